// JWT-4 / Q-13: with the authorization server down when the gateway starts, no keys are loaded and every
// request fails closed (503). Each request used to start another JWKS fetch, so N requests were N fetches
// against an AS that was already failing. A failed fetch now holds further fetches off for a short back-off,
// min(jwks_refetch_cooldown_s, 5 s); recovery stays automatic once the AS answers again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorContract } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The smallest cooldown the schema allows, so the back-off is 1 s.
const COOLDOWN_S = 1;

let issuer: TestIssuer;
let h: Harness;
beforeAll(async () => {
  issuer = await startIssuer();
  issuer.mode = 'down';
  h = await startHarness({ issuer, patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = COOLDOWN_S) });
  // The start-up warm fetch has been tried (and failed): the requests below are all after it.
  for (let i = 0; i < 400 && !h.logLines().some((l) => l.msg === 'jwks fetch failed'); i++) await sleep(5);
});
afterAll(async () => {
  await h?.close();
  await issuer?.close();
});

describe('JWT-4 / Q-13: JWKS fetches while no keys were ever loaded', () => {
  it('JWT-4 / Q-13: AS down at start: 10 requests -> 503 each and at most 2 JWKS fetches; after the back-off the next request fetches and gets 200', async () => {
    const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const call = () => h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    for (let i = 0; i < 10; i++) {
      const r = await call();
      expectErrorContract(r, 503, 'temporarily_unavailable');
      expect(r.headers['retry-after']).toMatch(/^\d+$/);
    }
    // The warm fetch at start, plus at most one more should the back-off have passed on a slow machine.
    expect(issuer.jwksFetches).toBeLessThanOrEqual(2);
    expect(h.upstream.received).toHaveLength(0);

    issuer.mode = 'ok';
    await sleep(COOLDOWN_S * 1000 + 100);
    const before = issuer.jwksFetches;
    const r = await call();
    expect(r.status).toBe(200);
    expect(issuer.jwksFetches).toBe(before + 1);
    expect(await h.gw.notReady()).toBeUndefined();
  });
});
