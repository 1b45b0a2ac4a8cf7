// Found in review (fixed; the test failed before): DPOP-21 with several gateways on one Redis. CLAIM_LUA (src/replay/redis.ts) only checks
// that `<key_prefix>epoch` EXISTS. After Redis loses its keys (FLUSHALL, restart without persistence), the
// first gateway to notice writes a new epoch; every other gateway keeps its old rememberedSinceMs until its
// own inspection (up to 1 s later, INSPECT_EVERY_MS), and its claims now find an epoch, so a proof used
// before the loss passes checkRemembered (old epoch) and the SET NX (key gone): accepted twice.
// The README promises "every gateway then refuses proofs with an earlier iat"; that holds only after
// each gateway's next inspection. (The same window exists within one gateway between readEpoch's SET NX
// and its GET: a claim whose checkRemembered already ran with the old epoch.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedisGateway, redisHarness, type PrivateRedisGateway } from '../support/dpop-caller.js';
import type { Harness } from '../support/gateway.js';
import { until, withRedis } from '../support/redis.js';

let a: PrivateRedisGateway;
let b: Harness;
beforeAll(async () => {
  a = await privateRedisGateway('review-epoch-race');
  // A second replica of the gateway on the same Redis and key prefix (a Deployment with replicas: 2).
  b = await redisHarness(a.issuer, a.upstream, `redis://127.0.0.1:${a.port}`, a.prefix);
}, 30_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const fresh200 = async (h: Harness): Promise<boolean> => {
  const f = await a.c.fresh();
  return (await a.c.send(h, f.token, f.proof)).status === 200;
};

describe('DPOP-21 a new epoch written by one gateway, claims at another', () => {
  it('DPOP-21: a proof used at gateway B before FLUSHALL is not accepted by B after gateway A wrote the new epoch', async () => {
    const replays: { status: number; forwarded: number }[] = [];
    // Bounded: a few attempts (B's own once-a-second inspection may close the window in one of them).
    for (let attempt = 0; attempt < 4; attempt++) {
      expect(await until(async () => (await fresh200(a.h)) && (await fresh200(b)), 5000, 50)).toBe(true);
      const { token, proof: p } = await a.c.fresh();
      expect((await a.c.send(b, token, p)).status).toBe(200);
      // Redis loses its keys, and another gateway (its claim got -1, or its inspection ran first) writes the
      // new epoch at once: what readEpoch does (SET NX now). Atomic here, so the test does not depend on
      // which gateway's timer fires first.
      await withRedis(a.port, async (r) => r.multi().flushall().set(`${a.prefix}epoch`, String(Date.now()), 'NX').exec());
      const before = a.upstream.received.length;
      const r = await a.c.send(b, token, p);
      replays.push({ status: r.status, forwarded: a.upstream.received.length - before });
    }
    // Every replay must be refused (401 predates-store, or 503): none forwarded.
    expect(replays.filter((x) => x.status === 200 || x.forwarded > 0)).toEqual([]);
  }, 60_000);
});
