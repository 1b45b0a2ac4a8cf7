// Found in review (fixed; the test failed before): Q-13, README "afterwards a Redis outage does not touch readiness". A hot reload that
// only retunes the Redis client (command_timeout_ms here; any change of replay.redis builds a new
// RedisReplayStore, src/main.ts build()) while Redis is down turned readiness to 503 (notReady() pinged
// every new store). The ConfigMap is reloaded by every replica
// at once, so they all leave the Service together and the mTLS routes, which need no Redis, go
// down with the DPoP ones: the situation the readiness design explicitly avoids for issuers' keys.
// Now, once a replica was ready, the replay store never gates its readiness again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedisGateway, redisPatch, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { stopRedis, until } from '../support/redis.js';

let w: PrivateRedisGateway;
beforeAll(async () => {
  w = await privateRedisGateway('ready-reload');
}, 30_000);
afterAll(async () => {
  await w?.close();
});

describe('Q-13 readiness across a reload during a Redis outage', () => {
  it('Q-13 / DPOP-22: a reload that only raises command_timeout_ms during an outage keeps a ready replica ready', async () => {
    const ready = async () => (await fetch(`${w.h.adminUrl}/readyz`)).status;
    expect(await until(async () => (await ready()) === 200, 10_000)).toBe(true);
    await stopRedis(w.redis);
    expect(await ready()).toBe(200); // the outage alone does not touch readiness (by design)
    w.h.reload(redisPatch(w.prefix, { command_timeout_ms: 500 }));
    expect(await ready()).toBe(200);
  });
});
