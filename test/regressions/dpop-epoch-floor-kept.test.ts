// Found in review (fixed; the test failed before): review of f7e2f1c (DPOP-21, src/replay/redis.ts fetchEpoch): "a gateway that notices a new epoch after
// it had read another remembers from that moment, whatever the clock of the replica that wrote it said"
// (README, Replay store). The moment is kept only until the epoch is read again with nothing changed:
// fetchEpoch recomputes sinceMs from the epoch's own (slow) time whenever `stored !== this.epoch`, and
// `this.epoch` is undefined after every reconnect; a store rebuilt by a reload (same Redis and prefix:
// new timeouts, a rotated password, a renewed replay.redis.ca_file) starts with no lastEpoch and floorMs 0.
// Either way the floor falls back to the slow replica's time, and a proof this gateway accepted just
// before Redis lost its keys is forwarded a second time.
//
// The third test: the floors add the store's futureAllowanceMs, iat_future_s when the store was built
// (src/main.ts buildReplayStore); a reload that raises iat_future_s keeps the store (replayConfig ignores
// the dpop section), so a proof accepted under the new allowance, iat up to iat_future_s ahead, passes
// the floor a Redis that lost its keys sets (rememberedSinceMs + the old allowance).
//
// The gateway runs for real on a private redis-server; "Redis lost its keys and a replica whose clock is
// 2 min slow wrote the new epoch" is made by hand (the claims deleted, the epoch rewritten), as in
// test/regressions/dpop-replay-clock-step.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { proof } from '../support/dpop.js';
import { privateRedisGateway, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { PUBLIC_ORIGIN } from '../support/gateway.js';
import { until, withRedis } from '../support/redis.js';

let g: PrivateRedisGateway | undefined;
afterEach(async () => {
  await g?.close();
  g = undefined;
});

/** A fresh proof is forwarded (the store is connected and has read its epoch). */
const freshPasses = (gw: PrivateRedisGateway): Promise<boolean> =>
  until(
    async () => {
      const f = await gw.c.fresh();
      return (await gw.c.send(gw.h, f.token, f.proof)).status === 200;
    },
    8000,
    100,
  );

/** Used once, refused again; then Redis loses it and a replica 2 min slow writes the epoch; the gateway notices. */
async function usedThenLost(gw: PrivateRedisGateway): Promise<{ token: string; proof: string }> {
  expect(await freshPasses(gw)).toBe(true);
  const used = await gw.c.fresh();
  expect((await gw.c.send(gw.h, used.token, used.proof)).status).toBe(200);
  expect((await gw.c.send(gw.h, used.token, used.proof)).status).toBe(401);
  await withRedis(gw.port, async (r) => {
    const runId = /^run_id:(\w+)/m.exec(await r.info('server'))?.[1] ?? '-';
    const claims = (await r.keys(`${gw.prefix}*`)).filter((k) => k !== `${gw.prefix}epoch`);
    const m = r.multi();
    if (claims.length > 0) m.del(...claims);
    await m.set(`${gw.prefix}epoch`, `${Date.now() - 120_000} ${runId}`).exec();
  });
  // Claims fail (503) until the gateway has read the new epoch; then fresh proofs pass again.
  expect(await freshPasses(gw)).toBe(true);
  // Control (f7e2f1c's fix): the proof used before the loss is refused, though the epoch says 2 min ago.
  expect((await gw.c.send(gw.h, used.token, used.proof)).status).toBe(401);
  return used;
}

describe('review diff2: DPOP-21 the floor set when a changed epoch is noticed', () => {
  it('DPOP-21: survives a reconnect to the same Redis (a proof used before the loss stays refused)', async () => {
    g = await privateRedisGateway('review-diff2-epoch-reconnect');
    const gw = g;
    const used = await usedThenLost(gw);
    // The connection drops (a network blip, the socket timeout, a proxy restart) and is reopened.
    await withRedis(gw.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    expect(await freshPasses(gw)).toBe(true);
    const before = gw.upstream.received.length;
    const r = await gw.c.send(gw.h, used.token, used.proof);
    expect({ status: r.status, forwarded: gw.upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 }); // was: 200, forwarded 1
  }, 40_000);

  it('DPOP-21: survives a reload that rebuilds the store on the same Redis (new timeouts; a renewed ca_file or password alike)', async () => {
    g = await privateRedisGateway('review-diff2-epoch-reload');
    const gw = g;
    const used = await usedThenLost(gw);
    gw.h.reload((c) => {
      c.replay.redis.command_timeout_ms = 300;
    });
    expect(await freshPasses(gw)).toBe(true);
    const before = gw.upstream.received.length;
    const r = await gw.c.send(gw.h, used.token, used.proof);
    expect({ status: r.status, forwarded: gw.upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 }); // was: 200, forwarded 1
  }, 40_000);

  it('DPOP-21: after a reload raised iat_future_s (the store is kept), a Redis that lost its keys does not accept again a proof used with the new allowance', async () => {
    g = await privateRedisGateway('review-diff2-epoch-future');
    const gw = g;
    expect(await freshPasses(gw)).toBe(true);
    gw.h.reload((c) => {
      c.dpop = { ...c.dpop, iat_future_s: 60 };
    });
    // A client whose clock runs 30 s fast: accepted under the new iat_future_s (60).
    const token = await gw.c.fresh().then((f) => f.token);
    const ahead = await proof(gw.c.key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token, claims: { iat: Math.floor(Date.now() / 1000) + 30 } });
    expect((await gw.c.send(gw.h, token, ahead)).status).toBe(200);
    expect((await gw.c.send(gw.h, token, ahead)).status).toBe(401);
    // Redis restarts without persistence: every claim is gone; the gateway writes a new epoch (now).
    await gw.crashAndRestart();
    expect(
      await until(async () => {
        const f = await gw.c.fresh();
        return (await gw.c.send(gw.h, f.token, f.proof)).status !== 503;
      }, 8000, 100),
    ).toBe(true);
    const before = gw.upstream.received.length;
    const r = await gw.c.send(gw.h, token, ahead);
    expect({ status: r.status, forwarded: gw.upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 }); // was: 200, forwarded 1
  }, 40_000);

  // Pin (passes): the floor is raised only by a changed epoch. Reading the same epoch again (a reconnect
  // to the same Redis, a reload that rebuilds the connection) must not refuse honest proofs issued before.
  it('DPOP-21 pin: reading the same epoch again (reconnect, reload rebuilding the store) refuses no honest proof issued before', async () => {
    g = await privateRedisGateway('review-diff2-epoch-same');
    const gw = g;
    expect(await freshPasses(gw)).toBe(true);
    const sinceS = await withRedis(gw.port, async (r) => Math.ceil(Number((await r.get(`${gw.prefix}epoch`))?.split(' ')[0]) / 1000));
    // A proof issued 2 s ago, after the store's memory began.
    await new Promise((ok) => setTimeout(ok, Math.max(0, (sinceS + 3) * 1000 - Date.now())));
    const older = async (): Promise<number> => {
      const token = await gw.c.fresh().then((f) => f.token);
      const p = await proof(gw.c.key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token, claims: { iat: Math.floor(Date.now() / 1000) - 2 } });
      return (await gw.c.send(gw.h, token, p)).status;
    };
    expect(await older()).toBe(200);
    await withRedis(gw.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    expect(await freshPasses(gw)).toBe(true);
    expect(await older()).toBe(200);
    gw.h.reload((c) => {
      c.replay.redis.command_timeout_ms = 300;
    });
    expect(await freshPasses(gw)).toBe(true);
    expect(await older()).toBe(200);
  }, 40_000);
});
