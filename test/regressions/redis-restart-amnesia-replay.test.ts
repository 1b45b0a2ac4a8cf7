// Found in review (fixed; the test failed before): DPOP-21, DPOP-22, Q-13. Redis restarts empty (a crash or OOM kill without AOF, a
// failover to a replica that had not received the last writes, a FLUSHALL). The gateway reconnects by
// itself and took the empty store at its word: every proof used in the last proof window (iat_past_s +
// iat_future_s) could be replayed once more. Now the epoch key tells: a claim that finds it missing gets
// 503, a new epoch is written, and proofs issued before it get 401 GW_DPOP_PROOF_PREDATES_STORE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedisGateway, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { until, withRedis } from '../support/redis.js';

let w: PrivateRedisGateway;
beforeAll(async () => {
  w = await privateRedisGateway('amnesia');
}, 30_000);
afterAll(async () => {
  await w?.close();
});

const status = async (): Promise<number> => {
  const f = await w.c.fresh();
  return (await w.c.send(w.h, f.token, f.proof)).status;
};
/** The used proof sent again: its status, and whether it reached the upstream. */
const replay = async (token: string, p: string): Promise<{ status: number; forwarded: number }> => {
  const before = w.upstream.received.length;
  const r = await w.c.send(w.h, token, p);
  return { status: r.status, forwarded: w.upstream.received.length - before };
};

describe('DPOP-21 a Redis that comes back empty', () => {
  it('DPOP-21: a proof used before a Redis crash-restart is not accepted again after the gateway reconnects', async () => {
    const { token, proof: p } = await w.c.fresh();
    expect((await w.c.send(w.h, token, p)).status).toBe(200);

    await w.crashAndRestart(); // no shutdown save (and none configured): Redis comes back empty
    // The gateway reconnects by itself (DPOP-22 recovery), with no restart, under a new epoch.
    expect(await until(async () => (await status()) === 200, 10_000, 100)).toBe(true);
    expect(await replay(token, p)).toEqual({ status: 401, forwarded: 0 });
    expect(w.h.logLines().some((l) => l.reason === 'GW_DPOP_PROOF_PREDATES_STORE')).toBe(true);
    expect(w.h.logLines().some((l) => l.msg === 'replay store warning' && String(l.detail).includes('lost or could evict its keys'))).toBe(true);
  });

  it('DPOP-21: the same after FLUSHALL on a running Redis (operator or a shared-cache tenant)', async () => {
    const { token, proof: p } = await w.c.fresh();
    expect((await w.c.send(w.h, token, p)).status).toBe(200);
    await withRedis(w.port, async (r) => r.flushall());
    // The very next claim finds the epoch gone (in the same script as its SET NX): 503, not a replay.
    expect(await replay(token, p)).toEqual({ status: 503, forwarded: 0 });
    // Then the new epoch refuses it for good, while fresh proofs pass again.
    expect(await until(async () => (await status()) === 200, 5000, 100)).toBe(true);
    expect(await replay(token, p)).toEqual({ status: 401, forwarded: 0 });
  });
});
