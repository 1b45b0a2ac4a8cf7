// DPoP-bound JWTs over real TLS (M4-M10, DPOP-14..DPOP-21, DPOP-24..DPOP-29): memory store, one instance.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import type { TestResponse } from '../support/client.js';

const NONCE_SECRET = 'n'.repeat(48);
let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.dpop = { ...c.dpop, nonce: { secret_env: 'NONCE_SECRET' } };
      c.routes.push({ id: 'nonce', match: { methods: ['GET'], path_prefix: '/nonce' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop', dpop_nonce: true }, upstream: { url: c.routes[0].upstream.url } });
    },
    env: { NONCE_SECRET },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

const challenges = (r: TestResponse): string[] => r.headersDistinct['www-authenticate'] ?? [];
const dpopToken = (k: DpopKey = key, extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfJkt(k.jkt), ...extra });
async function dpopCall(path: string, token: string, proofs: string[], method = 'GET', extraHeaders: [string, string][] = []) {
  return h.call(path, { method, headers: [['Authorization', `DPoP ${token}`], ...proofs.map((p): [string, string] => ['DPoP', p]), ...extraHeaders] });
}
const htu = (path: string) => `${PUBLIC_ORIGIN}${path}`;

describe('M7 / DPOP-14: a DPoP-bound token with a valid proof', () => {
  it('200 without a client certificate (TLS-9), identity says dpop and the key thumbprint', async () => {
    const token = await dpopToken();
    const r = await dpopCall('/dpop/1?q=1', token, [await proof(key, { htm: 'GET', htu: htu('/dpop/1'), token })]);
    expect(r.status).toBe(200);
    const up = h.upstream.received.at(-1)!;
    expect(up.headers['x-authenticated-binding']).toBe('dpop');
    expect(up.headers['x-authenticated-key-thumbprint']).toBe(key.jkt);
    expect(up.headers.dpop).toBeUndefined();
    expect(up.headers.authorization).toBeUndefined();
  });
  it('CONF-8: the DPoP scheme is case-insensitive; PS256 and EdDSA proofs work', async () => {
    for (const alg of ['PS256', 'EdDSA'] as const) {
      const k = await dpopKey(alg);
      const token = await dpopToken(k);
      const r = await h.call('/accounts/1', { headers: [['Authorization', `dpOP ${token}`], ['DPoP', await proof(k, { htm: 'GET', htu: htu('/accounts/1'), token })]] });
      expect(r.status, alg).toBe(200);
    }
  });
  it('DPOP-10: htu is compared with the public origin, not the Host header', async () => {
    const token = await dpopToken();
    const wrongOrigin = await proof(key, { htm: 'GET', htu: `https://127.0.0.1:${h.port}/dpop/1`, token });
    const r = await dpopCall('/dpop/1', token, [wrongOrigin]);
    expect(r.status).toBe(401);
    expect(challenges(r)[0]).toContain('error="invalid_dpop_proof"');
  });
});

describe('binding and schemes (M4, M5, M6, M8, M9, M10)', () => {
  it('M4 / DPOP-17 / Q-5: a DPoP-bound token sent as Bearer -> 401 on the Bearer challenge, DPoP bare', async () => {
    const r = await h.call('/accounts/1', { headers: [['Authorization', `Bearer ${await dpopToken()}`]] });
    expect(r.status).toBe(401);
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
    expect(challenges(r)[1]).toBe('DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"');
  });
  it('M4 / M5 / Q-5 on a DPoP-only route: Bearer still carries the error, beside a bare DPoP challenge', async () => {
    const token = await dpopToken();
    const down = await h.call('/dpop/1', { headers: [['Authorization', `Bearer ${token}`]] });
    expect(down.status).toBe(401);
    expect(challenges(down)).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token"/), 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
    const both = await h.call('/dpop/1', { headers: [['Authorization', `Bearer ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: htu('/dpop/1'), token })]] });
    expect(both.status).toBe(400);
    expect(challenges(both)).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_request"/), 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
  });
  it('M5 / DPOP-18 / Q-17 / ERR-2: Bearer with a DPoP header -> 400 invalid_request on Bearer, even for an x5t token', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: htu('/accounts/1'), token })]] });
    expect(r.status).toBe(400);
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_request"/);
    expect(challenges(r)[1]).not.toContain('error=');
  });
  it('M6 / DPOP-15: DPoP scheme without a proof -> 400 on the DPoP challenge', async () => {
    const r = await dpopCall('/dpop/1', await dpopToken(), []);
    expect(r.status).toBe(400);
    expect(challenges(r)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_request", error_description="[^"]+", algs="PS256 ES256 EdDSA Ed25519"$/)]);
  });
  it('M8 / DPOP-30: a bad proof -> 401 invalid_dpop_proof on the DPoP challenge', async () => {
    const token = await dpopToken();
    const r = await dpopCall('/accounts/1', token, [await proof(key, { htm: 'POST', htu: htu('/accounts/1'), token })]);
    expect(r.status).toBe(401);
    expect(challenges(r)[0]).toBe('Bearer realm="api.test"');
    expect(challenges(r)[1]).toMatch(/^DPoP realm="api.test", error="invalid_dpop_proof"/);
  });
  it('M9 / DPOP-14 / CONF-D26: a stolen DPoP token used with the thief\'s own key -> 401 invalid_token', async () => {
    const token = await dpopToken();
    const thief = await dpopKey();
    const r = await dpopCall('/dpop/1', token, [await proof(thief, { htm: 'GET', htu: htu('/dpop/1'), token })]);
    expect(r.status).toBe(401);
    expect(challenges(r)[0]).toMatch(/^DPoP realm="api.test", error="invalid_token"/);
  });
  it('M10 / DPOP-16 / MTLS-1: the DPoP scheme with an x5t-bound or unbound token -> 401 invalid_token', async () => {
    for (const token of [await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }), await h.issuer.mint()]) {
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: htu('/accounts/1'), token })]] });
      expect(r.status).toBe(401);
      expect(challenges(r)[1]).toMatch(/^DPoP realm="api.test", error="invalid_token"/);
    }
  });
  it('DPOP-19: a proof only in the query or the form body, or the DPoP token only in the query or the form body, is never accepted', async () => {
    const before = h.upstream.received.length;
    const token = await dpopToken();
    const p = async (htm: string) => proof(key, { htm, htu: htu('/dpop/1'), token });
    const form: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];
    // The proof outside the DPoP header: the DPoP scheme has no proof -> 400 invalid_request (DPOP-15).
    for (const r of [
      await h.call(`/dpop/1?dpop=${await p('GET')}`, { headers: [['Authorization', `DPoP ${token}`]] }),
      await h.call(`/dpop/1?DPoP=${await p('GET')}`, { headers: [['Authorization', `DPoP ${token}`]] }),
      await h.call('/dpop/1', { method: 'POST', headers: [['Authorization', `DPoP ${token}`], form], body: `dpop=${await p('POST')}` }),
    ]) {
      expect(r.status).toBe(400);
      expect(r.json()).toMatchObject({ error: 'invalid_request' });
      expect(challenges(r)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_request"/)]);
    }
    // The DPoP token outside Authorization (a valid proof in the DPoP header): a query token -> 400 (CRED-3),
    // a form-body token is no credential at all -> 401 without an error (E1, CRED-4).
    const inQuery = await h.call(`/dpop/1?access_token=${token}`, { headers: [['DPoP', await p('GET')]] });
    expect(inQuery.status).toBe(400);
    expect(challenges(inQuery)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_request"/)]);
    const inBody = await h.call('/dpop/1', { method: 'POST', headers: [['DPoP', await p('POST')], form], body: `access_token=${token}` });
    expect(inBody.status).toBe(401);
    expect(challenges(inBody)).toEqual(['DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
    expect(h.upstream.received.length).toBe(before);
  });
  it('routes say which bindings they accept: a DPoP token on an mTLS-only route -> 401', async () => {
    const token = await dpopToken();
    const r = await dpopCall('/mtls/1', token, [await proof(key, { htm: 'GET', htu: htu('/mtls/1'), token })]);
    expect(r.status).toBe(401);
    expect(h.upstream.received.some((u) => u.url === '/mtls/1')).toBe(false);
  });
  it('TOK-6 on DPoP: insufficient scope -> 403 on the DPoP challenge, and the jti is not consumed', async () => {
    const token = await dpopToken(key, { scope: 'other' });
    const p = await proof(key, { htm: 'GET', htu: htu('/accounts/1'), token });
    const r = await dpopCall('/accounts/1', token, [p]);
    expect(r.status).toBe(403);
    expect(challenges(r)[1]).toMatch(/^DPoP realm="api.test", error="insufficient_scope".*scope="accounts"/);
  });
});

describe('DPOP-21: replay store (memory), claimed last', () => {
  it('the same proof twice -> 200 then 401 invalid_dpop_proof', async () => {
    const token = await dpopToken();
    const p = await proof(key, { htm: 'GET', htu: htu('/dpop/r'), token });
    expect((await dpopCall('/dpop/r', token, [p])).status).toBe(200);
    const again = await dpopCall('/dpop/r', token, [p]);
    expect(again.status).toBe(401);
    expect(challenges(again)[0]).toMatch(/error="invalid_dpop_proof"/);
  });
  it('DPOP-21 a refused reload that changed the replay settings does not cost the store its memory', async () => {
    const token = await dpopToken();
    const p = await proof(key, { htm: 'GET', htu: htu('/dpop/reload'), token });
    expect((await dpopCall('/dpop/reload', token, [p])).status).toBe(200);
    // New replay settings, and a key that does not match the server certificate: the reload is refused.
    expect(() =>
      h.reload((c) => {
        c.replay = { store: 'memory', memory_max_entries: 5000 };
        c.server.tls.key_file = h.files.client1KeyFile;
      }),
    ).toThrow();
    h.reload(); // the running config again: accepted
    const again = await dpopCall('/dpop/reload', token, [p]);
    expect(again.status).toBe(401);
    expect(challenges(again)[0]).toMatch(/error="invalid_dpop_proof"/);
  });
  it('DPOP-21 an accepted reload that changes memory_max_entries keeps the used jtis', async () => {
    const token = await dpopToken();
    const p = await proof(key, { htm: 'GET', htu: htu('/dpop/resize'), token });
    expect((await dpopCall('/dpop/resize', token, [p])).status).toBe(200);
    h.reload((c) => (c.replay = { store: 'memory', memory_max_entries: 5000 }));
    try {
      const again = await dpopCall('/dpop/resize', token, [p]);
      expect(again.status).toBe(401);
      expect(challenges(again)[0]).toMatch(/error="invalid_dpop_proof"/);
    } finally {
      h.reload();
    }
  });
  it('DPOP-21 / DPOP-11 a reload that widens iat_past_s keeps the old window for proofs issued before it', async () => {
    h.reload((c) => (c.dpop = { ...c.dpop, iat_past_s: 60 }));
    try {
      const token = await dpopToken();
      // Issued 100 s ago: outside the 60 s window, so it was never claimable under it; its jti could have
      // been stored for only 70 s, so the wider window must not accept it.
      const old = await proof(key, { htm: 'GET', htu: htu('/dpop/widen'), token, claims: { iat: Math.floor(Date.now() / 1000) - 100 } });
      h.reload((c) => (c.dpop = { ...c.dpop, iat_past_s: 300 }));
      const r = await dpopCall('/dpop/widen', token, [old]);
      expect(r.status).toBe(401);
      expect(challenges(r)[0]).toMatch(/error="invalid_dpop_proof"/);
      // A proof issued after the reload gets the wider window.
      await new Promise((res) => setTimeout(res, 1100));
      const fresh = await proof(key, { htm: 'GET', htu: htu('/dpop/widen'), token });
      expect((await dpopCall('/dpop/widen', token, [fresh])).status).toBe(200);
    } finally {
      h.reload();
    }
  });
  it('a proof refused for another reason does not consume its jti', async () => {
    const token = await dpopToken();
    const jti = randomUUID();
    const bad = await proof(key, { htm: 'GET', htu: htu('/dpop/r2'), token: 'not-the-token', claims: { jti } });
    expect((await dpopCall('/dpop/r2', token, [bad])).status).toBe(401);
    const good = await proof(key, { htm: 'GET', htu: htu('/dpop/r2'), token, claims: { jti } });
    expect((await dpopCall('/dpop/r2', token, [good])).status).toBe(200);
  });
  it('50 concurrent requests with the same proof -> exactly one 200', async () => {
    const token = await dpopToken();
    const p = await proof(key, { htm: 'GET', htu: htu('/dpop/c'), token });
    const before = h.upstream.received.length;
    const statuses = await Promise.all(Array.from({ length: 50 }, () => dpopCall('/dpop/c', token, [p]).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(49);
    expect(h.upstream.received.length - before).toBe(1);
  });
});

describe('DPOP-24..DPOP-27 / M16: server nonces', () => {
  it('no nonce -> 401 use_dpop_nonce with exactly one DPoP-Nonce; a retry with it -> 200 with a fresh nonce and no-store', async () => {
    const token = await dpopToken();
    const first = await dpopCall('/nonce/1', token, [await proof(key, { htm: 'GET', htu: htu('/nonce/1'), token })]);
    expect(first.status).toBe(401);
    expect(challenges(first)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="use_dpop_nonce"/)]);
    expect(first.headersDistinct['dpop-nonce']).toHaveLength(1);
    const nonce = first.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
    expect(first.headers['cache-control']).toBe('no-store');
    const second = await dpopCall('/nonce/1', token, [await proof(key, { htm: 'GET', htu: htu('/nonce/1'), token, claims: { nonce } })]);
    expect(second.status).toBe(200);
    expect(second.headersDistinct['dpop-nonce']).toHaveLength(1);
    expect(second.headers['cache-control']).toBe('no-store');
  });
  it('DPOP-26: an unknown nonce -> use_dpop_nonce', async () => {
    const token = await dpopToken();
    const r = await dpopCall('/nonce/1', token, [await proof(key, { htm: 'GET', htu: htu('/nonce/1'), token, claims: { nonce: 'made-up' } })]);
    expect(r.status).toBe(401);
    expect(challenges(r)[0]).toContain('error="use_dpop_nonce"');
  });
  it('DPOP-28: with nonces off for the route, a nonce claim is ignored', async () => {
    const token = await dpopToken();
    expect((await dpopCall('/dpop/n', token, [await proof(key, { htm: 'GET', htu: htu('/dpop/n'), token, claims: { nonce: 'whatever' } })])).status).toBe(200);
  });
});
