// Binding downgrades and cross-binding confusion (TOK-1, MTLS-1..MTLS-3, DPOP-16, DPOP-17, M3, M4, M10, M11):
// a token is only accepted with the proof of possession its cnf names, over the scheme that cnf implies.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges, refusedNotForwarded } from '../support/contract.js';
import { startHarness, type CallOptions, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bound = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });
const GARBAGE_PROOF = 'not.a-valid.proof';

/** The request is refused with `status`/`error` and the upstream sees nothing. */
async function refused(path: string, opts: CallOptions, status: number, error: string): Promise<TestResponse> {
  return refusedNotForwarded(h, path, opts, status, error);
}

describe('M11 / TOK-1: an unbound bearer token on an mTLS route', () => {
  it('TOK-1: unbound Bearer token on /mtls, with a client certificate -> 401 Bearer invalid_token', async () => {
    const r = await refused('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint()}`]] }, 401, 'invalid_token');
    expect(challenges(r)).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token"/)]);
  });
  it('TOK-1: unbound Bearer token on /mtls, without a client certificate -> 401 invalid_token', async () => {
    const r = await refused('/mtls/x', { headers: [['Authorization', `Bearer ${await h.issuer.mint()}`]] }, 401, 'invalid_token');
    expect(challenges(r)[0]).toContain('error="invalid_token"');
  });
  it('TOK-1: a cnf that is empty or names an unknown method is not a binding -> 401', async () => {
    for (const cnf of [{}, { 'x5t#S1': h.pki.client1.x5tS256 }, { jwk: { kty: 'EC' } }]) {
      await refused('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf })}`]] }, 401, 'invalid_token');
    }
  });
  it('control: the same route accepts the bound token with its certificate', async () => {
    const before = h.upstream.received.length;
    const r = await h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await bound()}`]] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });
});

describe('M3 / MTLS-2 / MTLS-3: an mTLS-bound token over a connection with another certificate', () => {
  it('MTLS-3: client1-bound token with client2\'s certificate -> 401 invalid_token', async () => {
    const r = await refused('/mtls/x', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${await bound()}`]] }, 401, 'invalid_token');
    expect(challenges(r)).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token"/)]);
  });
  it('MTLS-3: client1-bound token with a self-signed certificate -> 401 invalid_token', async () => {
    await refused('/mtls/x', { cert: h.pki.selfSigned, headers: [['Authorization', `Bearer ${await bound()}`]] }, 401, 'invalid_token');
  });
  it('MTLS-3: the same on a route that accepts any binding', async () => {
    await refused('/accounts/1', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${await bound()}`]] }, 401, 'invalid_token');
  });
  it('MTLS-2: a cnf holding the thumbprint in another encoding (hex, padded base64) does not match', async () => {
    const hex = Buffer.from(h.pki.client1.x5tS256, 'base64url').toString('hex');
    const padded = Buffer.from(h.pki.client1.x5tS256, 'base64url').toString('base64');
    for (const t of [hex, padded, h.pki.client1.x5tS256.toLowerCase()]) {
      await refused('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(t) })}`]] }, 401, 'invalid_token');
    }
  });
});

describe('M10 / MTLS-1 / DPOP-16: an x5t-bound token presented with the DPoP scheme', () => {
  // The scheme/cnf consistency check (sender-constraint.ts) runs before any proof validation, so a
  // garbage proof still yields invalid_token (E3), never invalid_dpop_proof.
  it('M10: DPoP <x5t-bound> + garbage DPoP header on /accounts -> 401 DPoP error="invalid_token"', async () => {
    const r = await refused('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `DPoP ${await bound()}`], ['DPoP', GARBAGE_PROOF]] }, 401, 'invalid_token');
    const c = challenges(r);
    expect(c).toHaveLength(2);
    expect(c[0]).toBe('Bearer realm="api.test"');
    expect(c[1]).toMatch(/^DPoP realm="api.test", error="invalid_token", .*algs="/);
    expect(c.join()).not.toContain('invalid_dpop_proof');
  });
  it('M10: even with the matching client certificate, the DPoP scheme does not fall back to mTLS binding', async () => {
    await refused('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `DPoP ${await bound()}`], ['DPoP', GARBAGE_PROOF]] }, 401, 'invalid_token');
  });
  it('M10: DPoP <x5t-bound> on the DPoP-only route -> 401 invalid_token', async () => {
    const r = await refused('/dpop/x', { headers: [['Authorization', `DPoP ${await bound()}`], ['DPoP', GARBAGE_PROOF]] }, 401, 'invalid_token');
    expect(challenges(r)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_token"/)]);
  });
  it('DPOP-16: DPoP <unbound> + DPoP header -> 401 invalid_token', async () => {
    await refused('/accounts/1', { headers: [['Authorization', `DPoP ${await h.issuer.mint()}`], ['DPoP', GARBAGE_PROOF]] }, 401, 'invalid_token');
  });
});

describe('M4 / DPOP-17 and route binding policy', () => {
  it('M4 / DPOP-17: a DPoP-bound token sent as Bearer -> 401 Bearer invalid_token, DPoP challenge bare', async () => {
    const token = await h.issuer.mint({ cnf: cnfJkt('A'.repeat(43)) });
    const r = await refused('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] }, 401, 'invalid_token');
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
    expect(challenges(r)[1]).not.toContain('error=');
  });
  it('an mTLS-bound token with its certificate on the DPoP-only route -> 401 invalid_token', async () => {
    await refused('/dpop/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await bound()}`]] }, 401, 'invalid_token');
  });
  it('an unbound token is refused on every fapi route, however it is presented', async () => {
    const iid = randomUUID();
    await refused('/payments', { method: 'POST', cert: h.pki.client1, body: '{}', headers: [['Authorization', `Bearer ${await h.issuer.mint({ scope: 'payments' })}`], ['x-fapi-interaction-id', iid]] }, 401, 'invalid_token');
    await refused('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `bearer ${await h.issuer.mint()}`]] }, 401, 'invalid_token');
  });
});
