// Found in review (fixed; the test failed before): DPOP-21. A store refused a proof only when its iat
// was before the store's memory began. But iat may be up to dpop.iat_future_s ahead of the clock (a client
// clock running fast), so a proof accepted at T just before the store forgot (a memory-store restart, a
// Redis that lost its keys) could carry iat T + iat_future_s, pass that check after the restart, and be
// forwarded a second time. Now proofs whose iat is before (memory begins + iat_future_s) are refused, and
// a fresh store is not ready until then (no traffic reaches it while it would refuse honest proofs).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proof } from '../support/dpop.js';
import { caller, privateRedisGateway, type Caller, type PrivateRedisGateway } from '../support/dpop-caller.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { until, withRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const FUTURE_S = 3;
/** A proof for GET /dpop/x whose iat is `aheadS` seconds in the future. */
const aheadProof = async (c: Caller, token: string, aheadS: number): Promise<string> =>
  proof(c.key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token, claims: { iat: Math.floor(Date.now() / 1000) + aheadS } });
const future = (c: Record<string, any>): void => {
  c.dpop = { ...c.dpop, iat_future_s: FUTURE_S };
};
const ready = async (h: Harness): Promise<boolean> => until(async () => (await h.gw.notReady()) === undefined, (FUTURE_S + 2) * 1000, 50);

describe('DPOP-21 proofs with a future iat do not outlive the store memory', () => {
  let issuer: TestIssuer;
  let upstream: TestUpstream;
  let c: Caller;
  let second: Harness | undefined;
  beforeAll(async () => {
    issuer = await startIssuer({ pki: await testPki() });
    upstream = await startUpstream();
    c = await caller(issuer);
  });
  afterAll(async () => {
    await second?.close();
    await issuer?.close();
    await upstream?.close();
  });

  it('DPOP-21: memory store: a proof with iat ahead, used before a restart, is refused by the next process; it is ready once fresh proofs pass', async () => {
    const first = await startHarness({ issuer, upstream, patch: future });
    const token = (await c.fresh()).token;
    let p: string;
    try {
      // Once its issuer's keys are in, what holds it back is the young store.
      await until(async () => !/issuer/.test((await first.gw.notReady()) ?? ''), 3000, 20);
      expect(await first.gw.notReady()).toMatch(/replay store remembers only from/);
      expect(await ready(first)).toBe(true);
      p = await aheadProof(c, token, FUTURE_S - 1);
      expect((await c.send(first, token, p)).status).toBe(200);
      expect((await c.send(first, token, p)).status).toBe(401);
    } finally {
      await first.close();
    }
    await sleep(1000 - (Date.now() % 1000) + 50); // a restart takes longer than the rest of the second
    second = await startHarness({ issuer, upstream, patch: future });
    const before = upstream.received.length;
    const replay = await c.send(second, token, p);
    expect({ status: replay.status, forwarded: upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 });
    expect(await logFor(second, replay.headers['x-fapi-interaction-id'] as string)).toMatchObject({ reason: 'GW_DPOP_PROOF_PREDATES_STORE' });
    expect(await ready(second)).toBe(true);
    const fresh = await c.fresh();
    expect((await c.send(second, fresh.token, fresh.proof)).status).toBe(200);
    expect((await c.send(second, token, p)).status).toBe(401);
  }, 20_000);
});

describe('DPOP-21 the same on Redis after it lost its keys', () => {
  let w: PrivateRedisGateway;
  beforeAll(async () => {
    w = await privateRedisGateway('future-iat', [], FUTURE_S);
  }, 30_000);
  afterAll(async () => {
    await w?.close();
  });

  it('DPOP-21: Redis FLUSHALL: a proof with iat ahead, used before, is refused after the new epoch', async () => {
    expect(await ready(w.h)).toBe(true);
    const token = (await w.c.fresh()).token;
    const p = await aheadProof(w.c, token, FUTURE_S - 1);
    expect((await w.c.send(w.h, token, p)).status).toBe(200);
    await withRedis(w.port, async (r) => r.flushall());
    expect(
      await until(async () => {
        const f = await w.c.fresh();
        return (await w.c.send(w.h, f.token, f.proof)).status === 200;
      }, 8000, 100),
    ).toBe(true);
    const before = w.upstream.received.length;
    const r = await w.c.send(w.h, token, p);
    expect({ status: r.status, forwarded: w.upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 });
  }, 20_000);
});
