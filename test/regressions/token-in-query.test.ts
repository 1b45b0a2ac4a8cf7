// CRED-3 / CRED-5 / M12 / M13: an access token in the URI query is never accepted, in any spelling, and a
// query token next to a header token is an ambiguous request. All 400 invalid_request, never forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges, refusedNotForwarded } from '../support/contract.js';
import { startHarness, type CallOptions, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bound = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });

/** 400 invalid_request per the §3 contract, error on every challenge, upstream untouched. */
async function invalidRequest(path: string, opts: CallOptions): Promise<TestResponse> {
  const r = await refusedNotForwarded(h, path, opts, 400, 'invalid_request');
  const c = challenges(r);
  expect(c.length).toBeGreaterThan(0);
  for (const v of c) expect(v).toContain('error="invalid_request"');
  return r;
}

describe('CRED-3 / M13: access_token in the query', () => {
  it('CRED-3: ?access_token=<valid> alone (with the matching certificate) -> 400', async () => {
    await invalidRequest(`/accounts/1?access_token=${await bound()}`, { cert: h.pki.client1 });
  });
  it('CRED-3: access_token after other parameters, and without a value', async () => {
    const t = await bound();
    await invalidRequest(`/accounts/1?a=1&b=2&access_token=${t}`, { cert: h.pki.client1 });
    await invalidRequest('/accounts/1?x=1&access_token', { cert: h.pki.client1 });
    await invalidRequest('/accounts/1?access_token=', { cert: h.pki.client1 });
  });
  it('CRED-3: percent-encoded parameter name access%5Ftoken (and %5f, fully encoded) -> 400', async () => {
    const t = await bound();
    await invalidRequest(`/accounts/1?access%5Ftoken=${t}`, { cert: h.pki.client1 });
    await invalidRequest(`/accounts/1?access%5ftoken=${t}`, { cert: h.pki.client1 });
    await invalidRequest(`/accounts/1?%61%63%63%65%73%73%5F%74%6F%6B%65%6E=${t}`, { cert: h.pki.client1 });
  });
  it('CRED-3: access_token in the query of a POST -> 400, body never forwarded', async () => {
    await invalidRequest(`/payments?access_token=${await bound({ scope: 'payments' })}`, {
      method: 'POST',
      cert: h.pki.client1,
      headers: [['Content-Type', 'application/json']],
      body: '{"amount":"1.00"}',
    });
  });
  it('CRED-3: on the mTLS-only and DPoP-only routes as well', async () => {
    const t = await bound();
    await invalidRequest(`/mtls/x?access_token=${t}`, { cert: h.pki.client1 });
    await invalidRequest(`/dpop/x?access_token=${t}`, {});
  });
});

describe('CRED-5 / M12: a header token plus a query token', () => {
  it('CRED-5: Authorization header + ?access_token= (same token) -> 400 on both challenges', async () => {
    const t = await bound();
    const r = await invalidRequest(`/accounts/1?access_token=${t}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`]] });
    expect(challenges(r)).toHaveLength(2);
  });
  it('CRED-5: Authorization header + ?access%5Ftoken= (another token) -> 400', async () => {
    await invalidRequest(`/accounts/1?access%5Ftoken=${await bound({ sub: 'victim' })}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await bound()}`]] });
  });
  it('CRED-5: Authorization header + access_token in a POST query -> 400', async () => {
    const t = await bound({ scope: 'payments' });
    await invalidRequest(`/payments?access_token=${t}`, { method: 'POST', cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`]], body: '{}' });
  });
});

describe('CRED-3 controls: names that are not access_token are not tokens', () => {
  it('?access_token_hint=, ?my_access_token= and a value containing access_token are forwarded', async () => {
    const t = await bound();
    for (const q of ['access_token_hint=1', 'my_access_token=1', 'x=access_token']) {
      const before = h.upstream.received.length;
      const r = await h.call(`/accounts/1?${q}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`]] });
      expect(r.status, q).toBe(200);
      expect(h.upstream.received.length).toBe(before + 1);
      expect(h.upstream.received.at(-1)!.url).toBe(`/accounts/1?${q}`);
    }
  });
});
