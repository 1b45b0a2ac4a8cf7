// Found in review (fixed; the test failed before): DPOP-21 across a reload that switches the replay store (memory -> redis, or one Redis to
// another / another key_prefix). build() (src/main.ts) makes a new store, and a RedisReplayStore takes
// rememberedSinceMs from the Redis epoch (readEpoch, src/replay/redis.ts). When that Redis already has an
// epoch (it served other replicas, or this gateway before a switch to memory and back), the epoch is older
// than the switch: proofs claimed in the old store (not in this Redis) pass checkRemembered and the SET NX,
// and are forwarded a second time. The memory store at a restart refuses proofs from before its start;
// a switched-to store should likewise not vouch for anything before the reload that made it.
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caller, redisPatch, type Caller } from '../support/dpop-caller.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { freePort, startRedis, stopRedis, uniquePrefix, until, withRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

let issuer: TestIssuer;
let upstream: TestUpstream;
let c: Caller;
let redis: ChildProcess;
let port: number;
let h: Harness | undefined;
const prefix = uniquePrefix('review-switch');
beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  c = await caller(issuer);
  port = await freePort();
  redis = await startRedis(port, [], mkdtempSync(join(tmpdir(), 'fapi-redis-')));
  // The Redis the gateway will switch to has remembered for an hour (other replicas use it).
  await withRedis(port, async (r) => r.set(`${prefix}epoch`, String(Date.now() - 3_600_000)));
}, 30_000);
afterAll(async () => {
  await h?.close();
  if (redis !== undefined) await stopRedis(redis);
  await issuer?.close();
  await upstream?.close();
});

describe('DPOP-21 a reload from the memory store to a Redis with an older epoch', () => {
  it('DPOP-21: a proof used on the memory store is not accepted again after the reload to Redis', async () => {
    h = await startHarness({ issuer, upstream, env: { TEST_REDIS_URL: `redis://127.0.0.1:${port}` } });
    const { token, proof: p } = await c.fresh();
    expect((await c.send(h, token, p)).status).toBe(200);
    expect((await c.send(h, token, p)).status).toBe(401);

    h.reload(redisPatch(prefix));
    const gw = h;
    // The new store connects and reads the epoch (fresh proofs pass again).
    expect(
      await until(async () => {
        const f = await c.fresh();
        return (await c.send(gw, f.token, f.proof)).status === 200;
      }, 5000, 50),
    ).toBe(true);
    await sleep(1100); // an inspection at least, so the epoch is surely read
    const before = upstream.received.length;
    const r = await c.send(h, token, p);
    expect({ status: r.status, forwarded: upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 });
  }, 30_000);
});
