// Found in review (fixed; the test failed before): DPOP-21. checkEviction (src/replay/redis.ts) treats a node whose INFO
// fails, for ANY reason (a command timeout under load, a connection blip, NOPERM), as not evicting
// (`continue`). A gateway that has seen `maxmemory-policy allkeys-lru` and refuses claims (503) then
// concludes "the replay store no longer evicts keys", writes a new epoch and resumes claims, although the
// policy has not changed: claims made then can be evicted and their proofs replayed (up to the next
// check, 5 s later, which flips back - two warnings per flap). Reproduced here deterministically with an
// ACL that removes INFO; a timed-out INFO takes the same path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedisGateway, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { until, withRedis } from '../support/redis.js';

let w: PrivateRedisGateway;
beforeAll(async () => {
  w = await privateRedisGateway('review-evict-info', ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru']);
}, 30_000);
afterAll(async () => {
  await w?.close();
});

const status = async (): Promise<number> => {
  const f = await w.c.fresh();
  return (await w.c.send(w.h, f.token, f.proof)).status;
};

describe('DPOP-21 an evicting Redis whose policy can no longer be read', () => {
  it('DPOP-21: claims stay refused (503) while the policy is still allkeys-lru, even when INFO stops answering', async () => {
    expect(await until(async () => (await status()) === 503, 3000, 100)).toBe(true);
    // The policy is unchanged; only INFO fails now.
    await withRedis(w.port, async (r) => r.call('ACL', 'SETUSER', 'default', '-info'));
    expect(await withRedis(w.port, async (r) => r.call('CONFIG', 'GET', 'maxmemory-policy'))).toEqual(['maxmemory-policy', 'allkeys-lru']);
    // Bounded: 7 s covers the next eviction check (every 5 s).
    const accepted = await until(async () => (await status()) === 200, 7000, 250);
    expect(accepted).toBe(false);
  }, 30_000);
});
