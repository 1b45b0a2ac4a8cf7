// TOK-8, Q-9 over real TLS: a route with `resource_binding` forwards a request for an account or consent
// only if the token grants it (authorization_details or a scope), for JWTs (mTLS and DPoP) and
// introspected opaque tokens. Any other is 403 insufficient_scope on the scheme used, never forwarded.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenges, expectErrorContract } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { opaqueIssuer, startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { testPki, writePki } from '../support/pki.js';

const MINE = 'DE02100100109307118603';
const THEIRS = 'DE89370400440532013000';
const ACCOUNTS = { type: 'account_information', actions: ['read'], accounts: [MINE] };

let h: Harness;
let as: IntrospectionAs;
let key: DpopKey;
beforeAll(async () => {
  key = await dpopKey();
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  as = await startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } });
  h = await startHarness({
    routes: [
      {
        id: 'accounts',
        match: { methods: ['GET'], path_prefix: '/v1/accounts' },
        auth: { issuers: ['main', 'opaque'], binding: 'any', resource_binding: { authorization_details: [{ type: 'account_information', field: 'accounts' }], query_param: 'accountId' } },
      },
      { id: 'consents', match: { methods: ['GET', 'DELETE'], path_prefix: '/consents' }, auth: { binding: 'mtls', resource_binding: { scope_prefix: 'consent:' } } },
    ],
    patch: (c) => {
      c.issuers.opaque = opaqueIssuer(as, files);
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const bearer = async (path: string, token: string, method = 'GET') => {
  const iid = randomUUID();
  const r = await h.call(path, { method, cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
  return { r, line: await logFor(h, iid) };
};
const mtlsJwt = (claims: Record<string, unknown>) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims });

describe('TOK-8 resource_binding', () => {
  it('the account the token grants is forwarded (with what follows it); another customer\'s is 403, not forwarded, logged', async () => {
    const token = await mtlsJwt({ authorization_details: [ACCOUNTS] });
    const before = h.upstream.received.length;
    const ok = await bearer(`/v1/accounts/${MINE}/transactions?from=2026-01-01`, token);
    expect(ok.r.status).toBe(200);
    expect(h.upstream.received.at(-1)?.url).toBe(`/v1/accounts/${MINE}/transactions?from=2026-01-01`);
    const { r, line } = await bearer(`/v1/accounts/${THEIRS}/transactions`, token);
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(challenges(r).find((c) => c.startsWith('Bearer '))).toContain('error="insufficient_scope"');
    expect(h.upstream.received.length).toBe(before + 1);
    expect(line).toMatchObject({ decision: 'deny', reason: 'GW_RESOURCE_NOT_GRANTED', status: 403 });
    expect(line?.detail).toBe(`TOK-8 the token does not grant the resource "${THEIRS}" after /v1/accounts (looked in authorization_details type account_information accounts)`);
  });

  it('the list itself (the prefix alone) names no account and is forwarded; a token without grants gets only that', async () => {
    const token = await mtlsJwt({});
    expect((await bearer('/v1/accounts', token)).r.status).toBe(200);
    expect((await bearer('/v1/accounts/', token)).r.status).toBe(200);
    expect((await bearer(`/v1/accounts/${MINE}`, token)).r.status).toBe(403);
  });

  it('judged on the normalised path the upstream receives: encoded letters are the same account, other spellings are refused', async () => {
    const token = await mtlsJwt({ authorization_details: [ACCOUNTS] });
    const before = h.upstream.received.length;
    expect((await bearer(`/v1/accounts/%44%45${MINE.slice(2)}`, token)).r.status).toBe(200);
    expect(h.upstream.received.at(-1)?.url).toBe(`/v1/accounts/${MINE}`);
    for (const p of [`/v1/accounts/${MINE.toLowerCase()}`, `/v1/accounts/${MINE};v=1`, `/v1/accounts//${MINE}`, `/v1/accounts/./${THEIRS}`]) {
      expect((await bearer(p, token)).r.status, p).toBe(403);
    }
    // `..` sent as is (a URL-parsing client would resolve it) never reaches the binding: refused as a path first.
    const raw = await h.raw(`GET /v1/accounts/${MINE}/../${THEIRS} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(raw.response).toMatch(/^HTTP\/1\.1 400 /);
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('query_param: an account named in the query is bound too, in every spelling; the query reaches the upstream as sent', async () => {
    const token = await mtlsJwt({ authorization_details: [ACCOUNTS] });
    const before = h.upstream.received.length;
    expect((await bearer(`/v1/accounts?accountId=${MINE}&page=2`, token)).r.status).toBe(200);
    expect(h.upstream.received.at(-1)?.url).toBe(`/v1/accounts?accountId=${MINE}&page=2`);
    for (const q of [`accountId=${THEIRS}`, `accountId=${MINE}&accountId=${THEIRS}`, `AccountID=${THEIRS}`, `accountId[]=${THEIRS}`, `x=1;accountId=${THEIRS}`]) {
      const { r, line } = await bearer(`/v1/accounts?${q}`, token);
      expectErrorContract(r, 403, 'insufficient_scope');
      expect(line?.detail, q).toMatch(/in query parameter accountId/);
    }
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('what an upstream decoding twice or normalising Unicode could read as another account is 400 before the token is looked at', async () => {
    const token = await mtlsJwt({ authorization_details: [ACCOUNTS] });
    const before = h.upstream.received.length;
    for (const t of [`/v1/accounts/${MINE}/%252e%252e/${THEIRS}`, `/v1/accounts/${MINE}/%EF%BC%8E%EF%BC%8E/${THEIRS}`, `/v1/accounts/${MINE}/%C0%AE%C0%AE/${THEIRS}`, `/v1/accounts?account%2549d=${THEIRS}`]) {
      const { r, line } = await bearer(t, token);
      expectErrorContract(r, 400, 'invalid_request');
      expect(line?.detail, t).toMatch(/^TOK-8 .* of a route that binds resources/);
    }
    expect(h.upstream.received.length).toBe(before);
    // Unrelated parameters may hold anything.
    expect((await bearer(`/v1/accounts/${MINE}?note=10%25`, token)).r.status).toBe(200);
  });

  it('a DPoP-bound token: the refusal is on the DPoP challenge', async () => {
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt), authorization_details: [ACCOUNTS] });
    const call = async (path: string) =>
      h.call(path, { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}${path}`, token })]] });
    expect((await call(`/v1/accounts/${MINE}`)).status).toBe(200);
    const r = await call(`/v1/accounts/${THEIRS}`);
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(challenges(r).find((c) => c.startsWith('DPoP '))).toContain('error="insufficient_scope"');
  });

  it('an introspected opaque token: the grants come from the introspection answer', async () => {
    const token = as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: [ACCOUNTS] });
    expect((await bearer(`/v1/accounts/${MINE}`, token)).r.status).toBe(200);
    expect((await bearer(`/v1/accounts/${THEIRS}`, token)).r.status).toBe(403);
  });

  it('scope_prefix: the consent named by a consent:<id> scope, for each method of the route', async () => {
    const token = await mtlsJwt({ scope: 'openid consent:urn:bank:c-42' });
    expect((await bearer('/consents/urn:bank:c-42', token)).r.status).toBe(200);
    expect((await bearer('/consents/urn:bank:c-42', token, 'DELETE')).r.status).toBe(200);
    const { r, line } = await bearer('/consents/urn:bank:c-43', token, 'DELETE');
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(line?.detail).toMatch(/looked in scope consent:<value>/);
    // The collection itself: GET (a list) passes by default, a DELETE of it names no consent.
    expect((await bearer('/consents', token)).r.status).toBe(200);
    const all = await bearer('/consents', token, 'DELETE');
    expectErrorContract(all.r, 403, 'insufficient_scope');
    expect(all.line?.detail).toMatch(/DELETE on \/consents names no resource/);
  });
});
