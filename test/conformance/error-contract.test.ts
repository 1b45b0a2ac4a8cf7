// The §3 error contract over real TLS, one table per rule (ERR-2, ERR-3, ERR-10, DPOP-30): every kind of
// refusal the gateway makes (E1-E7, E9), each checked for its status, the `error` on the challenge of the
// scheme used, the JSON body with exactly `error` and `error_description`, `Content-Type:
// application/json`, `Cache-Control: no-store`, `Date` (HDR-6) and the request's interaction id echoed
// (HDR-1). Nothing refused ever reaches the upstream.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges, expectErrorContract } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type CallOptions, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';

const NONCE_SECRET = 's'.repeat(48);
let h: Harness;
let dead: TestIssuer;
let key: DpopKey;
beforeAll(async () => {
  // An issuer whose JWKS is unavailable from the start: its tokens can only get E9.
  dead = await startIssuer();
  dead.mode = 'down';
  h = await startHarness({
    env: { NONCE_SECRET },
    patch: (c) => {
      const upstream = { url: c.routes[0].upstream.url, timeout_ms: 2000 };
      c.dpop = { ...c.dpop, nonce: { secret_env: 'NONCE_SECRET' } };
      c.issuers.dead = { issuer: dead.issuer, jwks_uri: dead.jwksUri, ca_file: c.issuers.main.ca_file };
      c.routes.push(
        { id: 'nonce', match: { methods: ['GET'], path_prefix: '/nonce' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop', dpop_nonce: true }, upstream },
        {
          id: 'sca',
          match: { methods: ['GET'], path_prefix: '/sca' },
          auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any', step_up: { acr_values: ['urn:bank:sca'], max_age_s: 300 } },
          upstream,
        },
        { id: 'dead', match: { methods: ['GET'], path_prefix: '/dead' }, auth: { issuers: ['dead'], audience: 'https://api.test', binding: 'mtls' }, upstream },
      );
    },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
  await dead?.close();
});

const now = (): number => Math.floor(Date.now() / 1000);
const htu = (path: string): string => `${PUBLIC_ORIGIN}${path}`;
const x5tToken = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });
const jktToken = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfJkt(key.jkt), ...extra });
const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

/** A request with the DPoP scheme and one proof for `path` (proof options overridable). */
async function dpopRequest(path: string, token: string, o: Partial<Parameters<typeof proof>[1]> & { k?: DpopKey } = {}): Promise<CallOptions> {
  const { k = key, ...po } = o;
  return { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(k, { htm: 'GET', htu: htu(path), token, ...po })]] };
}

interface Case {
  readonly what: string;
  readonly path: string;
  readonly request: () => Promise<CallOptions>;
  readonly status: number;
  readonly error: string;
  /** The challenges that carry `error=` (the others must be bare); [] when none may carry one. */
  readonly carriers: readonly ('Bearer' | 'DPoP')[];
}

/** Sends a case with a fresh interaction id; checks the §3 contract (ERR-10), the challenges, and that nothing was forwarded. */
async function refused(c: Case): Promise<TestResponse> {
  const iid = randomUUID();
  const before = h.upstream.received.length;
  const opts = await c.request();
  const r = await h.call(c.path, { ...opts, headers: [...(opts.headers ?? []), ['x-fapi-interaction-id', iid]] });
  expectErrorContract(r, c.status, c.error);
  expect(r.headers['x-fapi-interaction-id'], c.what).toBe(iid);
  expect(Object.keys(r.json() as object).sort(), c.what).toEqual(['error', 'error_description']);
  if (c.status === 401 || c.status === 403) expect(challenges(r).length, `${c.what}: WWW-Authenticate (ERR-5)`).toBeGreaterThan(0);
  for (const ch of challenges(r)) {
    const scheme = ch.split(' ', 1)[0] as 'Bearer' | 'DPoP';
    if (c.carriers.includes(scheme)) expect(ch, c.what).toContain(`error="${c.error}"`);
    else expect(ch, c.what).not.toContain('error=');
  }
  for (const s of c.carriers) expect(challenges(r).some((ch) => ch.startsWith(`${s} `)), `${c.what}: a ${s} challenge`).toBe(true);
  expect(h.upstream.received.length, `${c.what}: not forwarded`).toBe(before);
  return r;
}

const INVALID_REQUEST: Case[] = [
  { what: 'a malformed Authorization header (Bearer without a token)', path: '/accounts/1', request: async () => ({ headers: [['Authorization', 'Bearer']] }), status: 400, error: 'invalid_request', carriers: ['Bearer'] },
  { what: 'a missing parameter: the DPoP scheme without a DPoP proof', path: '/dpop/1', request: async () => ({ headers: [['Authorization', `DPoP ${await jktToken()}`]] }), status: 400, error: 'invalid_request', carriers: ['DPoP'] },
  {
    what: 'more than one credential: two Authorization fields',
    path: '/accounts/1',
    request: async () => ({ cert: h.pki.client1, headers: [bearer(await x5tToken()), bearer(await x5tToken())] }),
    status: 400,
    error: 'invalid_request',
    carriers: ['Bearer', 'DPoP'],
  },
  {
    what: 'more than one credential method: Authorization plus ?access_token=',
    path: '/accounts/1?access_token=abc',
    request: async () => ({ cert: h.pki.client1, headers: [bearer(await x5tToken())] }),
    status: 400,
    error: 'invalid_request',
    carriers: ['Bearer', 'DPoP'],
  },
  { what: 'a token in the query', path: '/accounts/1?access_token=abc', request: async () => ({ cert: h.pki.client1 }), status: 400, error: 'invalid_request', carriers: ['Bearer', 'DPoP'] },
  {
    what: 'Bearer combined with a DPoP header',
    path: '/accounts/1',
    request: async () => {
      const t = await x5tToken();
      return { cert: h.pki.client1, headers: [bearer(t), ['DPoP', await proof(key, { htm: 'GET', htu: htu('/accounts/1'), token: t })]] };
    },
    status: 400,
    error: 'invalid_request',
    carriers: ['Bearer'],
  },
];

const INVALID_TOKEN: Case[] = [
  { what: 'an expired token', path: '/accounts/1', request: async () => ({ cert: h.pki.client1, headers: [bearer(await x5tToken({ iat: now() - 600, exp: now() - 120 }))] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  { what: 'a malformed token (not a JWS)', path: '/accounts/1', request: async () => ({ cert: h.pki.client1, headers: [bearer('not.a-jwt')] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  {
    what: 'a token with a corrupted signature',
    path: '/accounts/1',
    request: async () => {
      const [a, b, s] = (await x5tToken()).split('.') as [string, string, string];
      return { cert: h.pki.client1, headers: [bearer(`${a}.${b}.${s.slice(0, -4)}AAAA`)] };
    },
    status: 401,
    error: 'invalid_token',
    carriers: ['Bearer'],
  },
  { what: 'a token for another audience', path: '/accounts/1', request: async () => ({ cert: h.pki.client1, headers: [bearer(await x5tToken({ aud: 'https://other.test' }))] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  { what: 'a token not sender-constrained (no cnf)', path: '/accounts/1', request: async () => ({ cert: h.pki.client1, headers: [bearer(await h.issuer.mint())] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  { what: 'a binding failure: another client certificate', path: '/accounts/1', request: async () => ({ cert: h.pki.client2, headers: [bearer(await x5tToken())] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  { what: 'a binding failure: no client certificate', path: '/mtls/1', request: async () => ({ headers: [bearer(await x5tToken())] }), status: 401, error: 'invalid_token', carriers: ['Bearer'] },
  {
    what: 'a binding failure: a DPoP proof by another key',
    path: '/dpop/1',
    request: async () => dpopRequest('/dpop/1', await jktToken(), { k: await dpopKey() }),
    status: 401,
    error: 'invalid_token',
    carriers: ['DPoP'],
  },
];

/** DPOP-30: every `error` value a DPoP challenge can carry, each on the DPoP challenge of a request that used DPoP. */
const DPOP_ERRORS: Case[] = [
  { what: 'invalid_token (expired DPoP-bound token)', path: '/accounts/1', request: async () => { const t = await jktToken({ iat: now() - 600, exp: now() - 120 }); return dpopRequest('/accounts/1', t); }, status: 401, error: 'invalid_token', carriers: ['DPoP'] },
  { what: 'invalid_token (proof key does not match cnf.jkt)', path: '/accounts/1', request: async () => dpopRequest('/accounts/1', await jktToken(), { k: await dpopKey() }), status: 401, error: 'invalid_token', carriers: ['DPoP'] },
  { what: 'invalid_dpop_proof (htm does not match)', path: '/accounts/1', request: async () => dpopRequest('/accounts/1', await jktToken(), { htm: 'POST' }), status: 401, error: 'invalid_dpop_proof', carriers: ['DPoP'] },
  { what: 'use_dpop_nonce (nonce required, none sent)', path: '/nonce/1', request: async () => dpopRequest('/nonce/1', await jktToken()), status: 401, error: 'use_dpop_nonce', carriers: ['DPoP'] },
  { what: 'invalid_request (no DPoP proof)', path: '/accounts/1', request: async () => ({ headers: [['Authorization', `DPoP ${await jktToken()}`]] }), status: 400, error: 'invalid_request', carriers: ['DPoP'] },
  { what: 'insufficient_scope (scope missing)', path: '/accounts/1', request: async () => dpopRequest('/accounts/1', await jktToken({ scope: 'other' })), status: 403, error: 'insufficient_scope', carriers: ['DPoP'] },
  {
    what: 'insufficient_user_authentication (acr not accepted)',
    path: '/sca/1',
    request: async () => dpopRequest('/sca/1', await jktToken({ acr: 'urn:bank:low', auth_time: now() })),
    status: 401,
    error: 'insufficient_user_authentication',
    carriers: ['DPoP'],
  },
];

describe('ERR-2: invalid_request is 400', () => {
  for (const c of INVALID_REQUEST) {
    it(`ERR-2: ${c.what} -> 400 invalid_request`, async () => {
      await refused(c);
    });
  }
});

describe('ERR-3: invalid_token is 401', () => {
  for (const c of INVALID_TOKEN) {
    it(`ERR-3: ${c.what} -> 401 invalid_token on the ${c.carriers.join(' and ')} challenge`, async () => {
      await refused(c);
    });
  }
});

describe('DPOP-30: error values on the DPoP challenge', () => {
  for (const c of DPOP_ERRORS) {
    it(`DPOP-30: ${c.what} -> ${c.status}, DPoP error="${c.error}"`, async () => {
      const r = await refused(c);
      const dpop = challenges(r).find((ch) => ch.startsWith('DPoP '));
      expect(dpop).toMatch(new RegExp(`^DPoP realm="api\\.test", error="${c.error}", error_description="[^"]+"(, [a-z_]+="[^"]*")*, algs="[^"]+"`));
      if (c.error === 'use_dpop_nonce') expect(r.headersDistinct['dpop-nonce']).toHaveLength(1);
    });
  }
});

describe('ERR-10: the error body and headers of every gateway refusal', () => {
  it('ERR-10: E1-E7 and E9 all answer JSON {error, error_description}, application/json, no-store, Date and the echoed x-fapi-interaction-id', async () => {
    const all: Case[] = [
      { what: 'E1 no credentials', path: '/accounts/1', request: async () => ({}), status: 401, error: 'unauthorized', carriers: [] },
      INVALID_REQUEST[0]!,
      INVALID_REQUEST[2]!,
      INVALID_TOKEN[0]!,
      ...DPOP_ERRORS,
      { what: 'E6 insufficient scope (Bearer)', path: '/accounts/1', request: async () => ({ cert: h.pki.client1, headers: [bearer(await x5tToken({ scope: 'payments' }))] }), status: 403, error: 'insufficient_scope', carriers: ['Bearer'] },
      { what: 'E9 the issuer\'s keys unavailable', path: '/dead/1', request: async () => ({ cert: h.pki.client1, headers: [bearer(await dead.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }))] }), status: 503, error: 'temporarily_unavailable', carriers: [] },
    ];
    const statuses = new Set<number>();
    for (const c of all) statuses.add((await refused(c)).status);
    expect([...statuses].sort()).toEqual([400, 401, 403, 503]);
  });
});
