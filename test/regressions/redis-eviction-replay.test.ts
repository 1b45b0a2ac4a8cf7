// Found in review (fixed; the test failed before): DPOP-21. The gateway ran on a Redis whose maxmemory-policy evicts keys with a TTL
// (volatile-lru is the default of ElastiCache and Azure Cache for Redis). Every replay key has a TTL, so
// under memory pressure Redis silently drops used jtis and a captured proof is accepted a second time.
// Nothing checked the policy and the README did not say eviction must be off. Now the store reads the
// policy at connect and every 5 s: while Redis may evict, claims fail (503), and when it stops, a new
// epoch starts (proofs issued before are refused: some claims may have been evicted).
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedisGateway, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { until, withRedis } from '../support/redis.js';

let w: PrivateRedisGateway;
beforeAll(async () => {
  w = await privateRedisGateway('evict', ['--maxmemory-policy', 'volatile-lru']);
}, 30_000);
afterAll(async () => {
  await w?.close();
});

describe('DPOP-21 replay keys evicted by Redis (maxmemory-policy volatile-lru)', () => {
  it('DPOP-21: a used proof is never accepted again, even after Redis came under memory pressure', async () => {
    const { token, proof: p } = await w.c.fresh();
    expect((await w.c.send(w.h, token, p)).status).toBe(200);
    expect((await w.c.send(w.h, token, p)).status).toBe(401); // the replay is refused while the key is there

    const jti = decodeJwt(p).jti as string;
    const replayKey = w.prefix + createHash('sha256').update(`${w.c.key.jkt}:${jti}`).digest('hex');
    // Other traffic on the same Redis (more jtis, another app's cache) pushes memory to maxmemory.
    const evicted = await withRedis(w.port, async (r) => {
      expect(await r.exists(replayKey)).toBe(1);
      const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]);
      await r.config('SET', 'maxmemory', String(used + 256 * 1024));
      const filler = 'x'.repeat(1024);
      for (let i = 0; i < 40 && (await r.exists(replayKey)) === 1; i++) {
        const pipe = r.pipeline();
        for (let j = 0; j < 100; j++) pipe.set(`other:${i}:${j}`, filler, 'EX', 3600);
        await pipe.exec();
      }
      return (await r.exists(replayKey)) === 0;
    });
    expect(evicted, 'Redis evicted the replay key').toBe(true);

    // Within 5 s the gateway reads the policy: DPoP requests fail closed, the replay among them.
    const status = async (): Promise<number> => {
      const f = await w.c.fresh();
      return (await w.c.send(w.h, f.token, f.proof)).status;
    };
    expect(await until(async () => (await status()) === 503, 8000, 200)).toBe(true);
    expect(w.h.logLines().some((l) => l.msg === 'replay store warning' && String(l.detail).includes('maxmemory-policy volatile-lru'))).toBe(true);
    const before = w.upstream.received.length;
    const replay = await w.c.send(w.h, token, p);
    expect({ status: replay.status, forwarded: w.upstream.received.length - before }).toEqual({ status: 503, forwarded: 0 });

    // Eviction off again: claims resume under a new epoch, and the evicted claim's proof stays refused.
    await withRedis(w.port, async (r) => r.config('SET', 'maxmemory-policy', 'noeviction'));
    expect(await until(async () => (await status()) === 200, 8000, 200)).toBe(true);
    const again = await w.c.send(w.h, token, p);
    expect({ status: again.status, forwarded: w.upstream.received.length - before }).toMatchObject({ status: 401 });
    expect(w.upstream.received.length - before).toBeGreaterThan(0); // the fresh proofs, not the replay
    expect(w.h.logLines().some((l) => l.reason === 'GW_DPOP_PROOF_PREDATES_STORE')).toBe(true);
  });
});
