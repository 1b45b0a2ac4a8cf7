// Found in review (fixed; the test failed before): DPOP-21 / DPOP-22. A reload that changes any replay.redis setting but
// memory_max_entries (command_timeout_ms, say) builds a new RedisReplayStore (src/main.ts build,
// replayIdentity), whose rememberedSinceMs is `Date.now()` at construction, not aligned to a second,
// until its connection has read the epoch (src/replay/redis.ts sinceMs). Meanwhile checkRemembered runs
// before the claim: an honest proof made a moment before the reload (or in the same second) gets 401
// GW_DPOP_PROOF_PREDATES_STORE ("send a new proof"), though the Redis and its epoch are the same as before.
// While the new connection is not up (a slow or unreachable Redis at the reload) that lasts until it is:
// the documented answer for a store that cannot vouch is 503 with Retry-After.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proof } from '../support/dpop.js';
import { privateRedisGateway, redisPatch, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { PUBLIC_ORIGIN } from '../support/gateway.js';

let w: PrivateRedisGateway;
beforeAll(async () => {
  w = await privateRedisGateway('review-reload-new-store');
}, 30_000);
afterAll(async () => {
  await w?.close();
});

describe('DPOP-21 a reload that reconnects to the same Redis', () => {
  it('DPOP-21: a proof issued 1 s before a reload that only changed command_timeout_ms is not refused as predating the store', async () => {
    // The proof (iat 1 s ago) must not predate the store's own start: on a loaded machine the test can run
    // within a second or two of it, and then the 401 would be right.
    await new Promise((r) => setTimeout(r, 2500));
    const token = (await w.c.fresh()).token;
    const p = await proof(w.c.key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token, claims: { iat: Math.floor(Date.now() / 1000) - 1 } });
    // Redis is slow to answer for a moment (a busy or remote primary): the new connection is not ready yet.
    const admin = new Redis({ port: w.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const slept = admin.call('DEBUG', 'SLEEP', '0.8').catch(() => undefined);
    try {
      w.h.reload(redisPatch(w.prefix, { command_timeout_ms: 300 }));
      const r = await w.c.send(w.h, token, p);
      // 503 (store not reached yet) or 200 are both right; 401 "older than the replay record" is not.
      expect({ status: r.status, error: r.status === 401 ? r.json() : undefined }).not.toMatchObject({ status: 401 });
    } finally {
      await slept;
      admin.disconnect();
    }
  }, 20_000);
});
