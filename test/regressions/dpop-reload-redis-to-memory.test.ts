// Found in review (fixed; the test failed before): review of c9619c3 (DPOP-21): a reload that moves the store from Redis to memory.
// README (Replay store): "A reload that moves the store (from memory, to another Redis or key_prefix)
// starts its memory at the reload." The memory store built by that reload (src/replay/memory.ts
// constructor) remembers from the START OF THE SECOND it was built in (floor(now/1000)*1000), the rounding
// meant for a process restart; src/main.ts build() ignores the floorMs it computed (Date.now()) for a
// memory store. A proof accepted by the Redis store earlier in that same second (iat = that second, or
// that second + iat_future_s for a client clock running fast) is at or after the new store's trusted
// floor, is not in the new store, and is forwarded a second time.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { caller, redisHarness } from '../support/dpop-caller.js';
import type { Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { SHARED_REDIS_URL, uniquePrefix, withRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

let h: Harness | undefined;
let issuer: TestIssuer | undefined;
let upstream: TestUpstream | undefined;
let prefix: string | undefined;
afterEach(async () => {
  await h?.close();
  await issuer?.close();
  await upstream?.close();
  if (prefix !== undefined) {
    const p = prefix;
    await withRedis(SHARED_REDIS_URL, async (r) => {
      const keys = await r.keys(`${p}*`);
      if (keys.length > 0) await r.del(...keys);
    }).catch(() => undefined);
  }
  h = issuer = upstream = prefix = undefined;
});

describe('review diff3: DPOP-21 reload from Redis to memory', () => {
  it('DPOP-21: a proof used on the Redis store just before a reload to memory (same second) is not forwarded again', async () => {
    issuer = await startIssuer({ pki: await testPki() });
    upstream = await startUpstream();
    prefix = uniquePrefix('review-diff3-to-memory');
    h = await redisHarness(issuer, upstream, SHARED_REDIS_URL, prefix);
    const c = await caller(issuer);
    // Warm up (token validation, JWKS, the Redis epoch read): a fresh proof passes.
    const warm = await c.fresh();
    expect((await c.send(h, warm.token, warm.proof)).status).toBe(200);
    // Early in a second, so the use and the reload fall in the same one.
    if (Date.now() % 1000 > 300) await sleep(1000 - (Date.now() % 1000) + 20);
    const used = await c.fresh();
    expect((await c.send(h, used.token, used.proof)).status).toBe(200);
    h.reload((cfg) => {
      cfg.replay = { store: 'memory' };
    });
    const before = upstream.received.length;
    const r = await c.send(h, used.token, used.proof);
    expect({ status: r.status, forwarded: upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 }); // was: 200, forwarded 1
  }, 20_000);
});
