// Opaque tokens and revocation over real TLS (INT-1..INT-8, TOK-3, TOK-9, Q-3): the gateway introspects
// at test authorization servers that check its client authentication for real.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { AUDIENCE, PUBLIC_ORIGIN, defaultRoutes, logFor, startHarness, type Harness } from '../support/gateway.js';
import { startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';

const SECRET = 'basic secret: with %, + and spaces';
let pki: TestPki;
let files: PkiFiles;
let h: Harness;
/** private_key_jwt, endpoint discovered, cache_max_s 1, timeout 500 ms */
let pkjwt: IntrospectionAs;
/** tls_client_auth, endpoint discovered from the mTLS alias */
let mtls: IntrospectionAs;
/** client_secret_basic (non-FAPI route), explicit endpoint */
let basic: IntrospectionAs;
/** RFC 9701 signed answers, private_key_jwt with an EdDSA JWK file */
let signed: IntrospectionAs;
/** a JWT issuer with revocation: introspect */
let revoking: IntrospectionAs;
let key: DpopKey;

beforeAll(async () => {
  pki = await testPki();
  files = await writePki(undefined, pki);
  const es = await generateKeyPair('ES256', { extractable: true });
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const wrong = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(files.dir, 'gw-es256.key'), await exportPKCS8(es.privateKey), { mode: 0o600 });
  await writeFile(join(files.dir, 'gw-wrong.key'), await exportPKCS8(wrong.privateKey), { mode: 0o600 });
  await writeFile(join(files.dir, 'gw-ed25519.jwk'), JSON.stringify({ ...(await exportJWK(ed.privateKey)), kid: 'gw-ed-1' }), { mode: 0o600 });
  [pkjwt, mtls, basic, signed, revoking] = await Promise.all([
    startIntrospectionAs({ pki, client: { id: 'gw-pkjwt', auth: 'private_key_jwt', publicKey: es.publicKey } }),
    startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } }),
    startIntrospectionAs({ pki, client: { id: 'gw basic', auth: 'client_secret_basic', secret: SECRET } }),
    startIntrospectionAs({ pki, client: { id: 'gw-signed', auth: 'private_key_jwt', publicKey: ed.publicKey } }),
    startIntrospectionAs({ pki, client: { id: 'gw-rev', auth: 'private_key_jwt', publicKey: es.publicKey } }),
  ]);
  signed.signResponses = true;
  key = await dpopKey();
  const pkjwtIntrospection = { client_id: 'gw-pkjwt', auth: 'private_key_jwt', private_key_file: join(files.dir, 'gw-es256.key'), cache_max_s: 1, timeout_ms: 500 };
  h = await startHarness({
    routes: [
      ...defaultRoutes(),
      { id: 'op', match: { methods: ['GET'], path_prefix: '/op' }, auth: { issuers: ['op-pkjwt'], scopes: { all_of: ['accounts'] } } },
      { id: 'op-mtls', match: { methods: ['GET'], path_prefix: '/opm' }, auth: { issuers: ['op-mtls'] } },
      { id: 'op-noaud', match: { methods: ['GET'], path_prefix: '/opn' }, auth: { issuers: ['op-noaud'] } },
      { id: 'op-basic', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/opb' }, auth: { issuers: ['op-basic'] } },
      { id: 'op-signed', match: { methods: ['GET'], path_prefix: '/ops' }, auth: { issuers: ['op-signed'] } },
      { id: 'op-wrong-key', match: { methods: ['GET'], path_prefix: '/opw' }, auth: { issuers: ['op-wrong-key'] } },
      { id: 'op-untrusted', match: { methods: ['GET'], path_prefix: '/opu' }, auth: { issuers: ['op-untrusted'] } },
      { id: 'revocable', match: { methods: ['GET'], path_prefix: '/rev' }, auth: { issuers: ['revocable'], binding: 'mtls' } },
      { id: 'mixed', match: { methods: ['GET'], path_prefix: '/mixed' }, auth: { issuers: ['main', 'op-pkjwt'] } },
    ],
    patch: (c) => {
      const ca_file = files.caFile;
      c.issuers['op-pkjwt'] = { issuer: pkjwt.issuer, ca_file, token_format: 'opaque', introspection: pkjwtIntrospection };
      c.issuers['op-mtls'] = {
        issuer: mtls.issuer,
        ca_file,
        token_format: 'opaque',
        introspection: { client_id: 'gw-mtls', auth: 'tls_client_auth', cert_file: files.client1CertFile, key_file: files.client1KeyFile },
      };
      // The same AS as op-mtls, declared as one that never returns aud (INT-3's per-issuer setting).
      c.issuers['op-noaud'] = { ...c.issuers['op-mtls'], introspection: { ...c.issuers['op-mtls'].introspection, require_audience: false } };
      c.issuers['op-basic'] = {
        issuer: basic.issuer,
        ca_file,
        token_format: 'opaque',
        introspection: { endpoint: basic.introspectionEndpoint, client_id: 'gw basic', auth: 'client_secret_basic', client_secret_env: 'GW_INTROSPECTION_SECRET' },
      };
      c.issuers['op-signed'] = {
        issuer: signed.issuer,
        ca_file,
        token_format: 'opaque',
        introspection: { client_id: 'gw-signed', auth: 'private_key_jwt', private_key_file: join(files.dir, 'gw-ed25519.jwk'), signed_response: true },
      };
      // The same AS as op-pkjwt, but the gateway signs its assertion with a key the AS does not know.
      c.issuers['op-wrong-key'] = {
        issuer: pkjwt.issuer,
        ca_file,
        token_format: 'opaque',
        introspection: { ...pkjwtIntrospection, private_key_file: join(files.dir, 'gw-wrong.key') },
      };
      // The same AS again, without the CA that issued its TLS certificate (TLS-11).
      c.issuers['op-untrusted'] = { issuer: pkjwt.issuer, token_format: 'opaque', introspection: { ...pkjwtIntrospection, endpoint: pkjwt.introspectionEndpoint } };
      c.issuers.revocable = {
        issuer: revoking.issuer,
        jwks_uri: revoking.jwksUri,
        ca_file,
        revocation: 'introspect',
        introspection: { client_id: 'gw-rev', auth: 'private_key_jwt', private_key_file: join(files.dir, 'gw-es256.key'), cache_max_s: 1 },
      };
    },
    env: { GW_INTROSPECTION_SECRET: SECRET },
  });
});
afterAll(async () => {
  await h?.close();
  await Promise.all([pkjwt, mtls, basic, signed, revoking].map((a) => a?.close()));
});

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];
const challenges = (r: TestResponse): string[] => r.headersDistinct['www-authenticate'] ?? [];
const certBound = (as: IntrospectionAs, extra: Record<string, unknown> = {}) => as.issueOpaque({ cnf: cnfX5t(pki.client1.x5tS256), token_type: 'Bearer', ...extra });
const callMtls = (path: string, token: string) => h.call(path, { cert: pki.client1, headers: [bearer(token)] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The log line's `reason` for a response (the catalog code of a refusal). */
const reasonOf = async (r: TestResponse): Promise<unknown> => (await logFor(h, String(r.headers['x-fapi-interaction-id'])))?.reason;

async function expect503(r: TestResponse): Promise<void> {
  expect(r.status).toBe(503);
  expect(await reasonOf(r)).toBe('GW_INTROSPECTION_UNAVAILABLE');
  expect(r.json()).toMatchObject({ error: 'temporarily_unavailable' });
  expect(r.headers['retry-after']).toMatch(/^\d+$/);
  expect(r.headers['www-authenticate']).toBeUndefined();
  expect(r.headers['cache-control']).toBe('no-store');
}

async function expect401(r: TestResponse, reason?: string): Promise<void> {
  expect(r.status).toBe(401);
  if (reason !== undefined) expect(await reasonOf(r)).toBe(reason);
  expect(r.json()).toMatchObject({ error: 'invalid_token' });
  expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
}

describe('INT-1..INT-4: opaque sender-constrained tokens', () => {
  it('INT-1 / M2: an mTLS-bound opaque token -> 200 with identity headers; the AS saw an authenticated form POST', async () => {
    const token = certBound(pkjwt, { sub: 'alice', client_id: 'tpp-7', scope: 'accounts openid' });
    const before = pkjwt.calls.length;
    const r = await callMtls('/op/accounts/1', token);
    expect(r.status).toBe(200);
    const up = h.upstream.received.at(-1)!;
    expect(up.headers['x-authenticated-subject']).toBe('alice');
    expect(up.headers['x-authenticated-client-id']).toBe('tpp-7');
    expect(up.headers['x-authenticated-scope']).toBe('accounts openid');
    expect(up.headers['x-authenticated-issuer']).toBe(pkjwt.issuer);
    expect(up.headers['x-authenticated-binding']).toBe('mtls');
    expect(up.headers['x-authenticated-key-thumbprint']).toBe(pki.client1.x5tS256);
    expect(up.headers.authorization).toBeUndefined();
    const calls = pkjwt.calls.slice(before);
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.path).toBe('/introspect');
    expect(call.authenticated).toBe(true);
    expect(call.form.get('token')).toBe(token);
    expect(call.form.get('token_type_hint')).toBe('access_token');
    // Nothing of the end client travels to the AS: no DPoP proof, no client credentials.
    expect(call.headers.dpop).toBeUndefined();
    expect(call.headers.authorization).toBeUndefined();
  });
  it('INT-4 / M7: a DPoP-bound opaque token with a valid proof -> 200, binding dpop', async () => {
    const token = pkjwt.issueOpaque({ cnf: cnfJkt(key.jkt), token_type: 'DPoP' });
    const r = await h.call('/op/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/op/x`, token })]] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.at(-1)!.headers['x-authenticated-binding']).toBe('dpop');
    expect(h.upstream.received.at(-1)!.headers['x-authenticated-key-thumbprint']).toBe(key.jkt);
  });
  it('INT-4 / DPOP-20: cnf.jkt with token_type Bearer -> 401', async () => {
    const token = pkjwt.issueOpaque({ cnf: cnfJkt(key.jkt), token_type: 'Bearer' });
    const r = await h.call('/op/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/op/x`, token })]] });
    expect(r.status).toBe(401);
    expect(await reasonOf(r)).toBe('GW_TOKEN_INVALID');
    expect(challenges(r).join()).toContain('error="invalid_token"');
  });
  it('M3: an mTLS-bound opaque token with another certificate -> 401', async () => {
    const r = await h.call('/op/x', { cert: pki.client2, headers: [bearer(certBound(pkjwt))] });
    await expect401(r, 'GW_CERT_MISMATCH');
  });
  it('TOK-1: an active but unbound opaque token -> 401', async () => {
    await expect401(await callMtls('/op/x', pkjwt.issueOpaque({ token_type: 'Bearer' })), 'GW_TOKEN_UNBOUND');
  });
  it('INT-2: an unknown (inactive) token -> 401 invalid_token, not forwarded', async () => {
    const before = h.upstream.received.length;
    await expect401(await callMtls('/op/x', 'never-issued-token'), 'GW_TOKEN_INACTIVE');
    expect(h.upstream.received.length).toBe(before);
  });
  it('INT-3 / TOK-5: aud for another resource, or no aud -> 401', async () => {
    await expect401(await callMtls('/op/x', certBound(pkjwt, { aud: 'https://other.test' })), 'GW_TOKEN_AUDIENCE');
    await expect401(await callMtls('/op/x', certBound(pkjwt, { aud: undefined })), 'GW_TOKEN_AUDIENCE');
    expect((await callMtls('/op/x', certBound(pkjwt, { aud: ['https://other.test', AUDIENCE] }))).status).toBe(200);
  });
  it('INT-3 require_audience: false: an answer without aud is accepted; one with another aud is still refused', async () => {
    expect((await callMtls('/opn/x', certBound(mtls, { aud: undefined }))).status).toBe(200);
    await expect401(await callMtls('/opn/x', certBound(mtls, { aud: 'https://other.test' })), 'GW_TOKEN_AUDIENCE');
    expect((await callMtls('/opn/x', certBound(mtls))).status).toBe(200);
    // The default still requires it, for the same AS.
    await expect401(await callMtls('/opm/x', certBound(mtls, { aud: undefined })), 'GW_TOKEN_AUDIENCE');
  });
  it('INT-3: expired, or another iss -> 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(await callMtls('/op/x', certBound(pkjwt, { exp: now - 60 })), 'GW_TOKEN_EXPIRED');
    await expect401(await callMtls('/op/x', certBound(pkjwt, { iss: `${pkjwt.issuer}/` })), 'GW_TOKEN_ISSUER');
  });
  it('TOK-6: the introspected scope is enforced -> 403', async () => {
    const r = await callMtls('/op/x', certBound(pkjwt, { scope: 'payments' }));
    expect(r.status).toBe(403);
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="insufficient_scope", .*scope="accounts"$/);
  });
  it('TOK-10: opaque tokens never reach the logs', async () => {
    const token = certBound(pkjwt);
    await callMtls('/op/x', token);
    await callMtls('/op/x', `${token}x`);
    expect(h.logs.join('\n')).not.toContain(token);
  });
});

describe('INT-1: client authentication at the AS, checked for real', () => {
  it('INT-1 tls_client_auth: the gateway certificate on the mTLS alias endpoint', async () => {
    const before = mtls.calls.length;
    expect((await callMtls('/opm/x', certBound(mtls))).status).toBe(200);
    const call = mtls.calls.at(-1)!;
    expect(mtls.calls.length).toBe(before + 1);
    expect(call).toMatchObject({ path: '/mtls/introspect', authenticated: true });
    expect(call.form.get('client_id')).toBe('gw-mtls');
  });
  it('INT-1 client_secret_basic: form-urlencoded id and secret', async () => {
    expect((await callMtls('/opb/x', certBound(basic))).status).toBe(200);
    expect(basic.calls.at(-1)).toMatchObject({ path: '/introspect', authenticated: true });
  });
  it('INT-1 an assertion signed with a key the AS does not know is refused by the AS -> 503, never acceptance', async () => {
    const before = pkjwt.calls.length;
    await expect503(await callMtls('/opw/x', certBound(pkjwt)));
    expect(pkjwt.calls.slice(before)).toEqual([expect.objectContaining({ authenticated: false, detail: expect.stringContaining('signature') })]);
  });
  it('TLS-11: an AS whose TLS certificate is not trusted -> 503', async () => {
    const before = pkjwt.calls.length;
    await expect503(await callMtls('/opu/x', certBound(pkjwt)));
    expect(pkjwt.calls.length).toBe(before);
  });
});

describe('INT-6: cache and revocation', () => {
  it('INT-6 a config reload keeps the cached answers of an unchanged issuer, and drops them when it changes', async () => {
    // op-basic caches active answers for the default 60 s.
    const token = certBound(basic);
    const before = basic.calls.length;
    expect((await callMtls('/opb/x', token)).status).toBe(200);
    h.reload();
    expect((await callMtls('/opb/x', token)).status).toBe(200);
    expect(basic.calls.length).toBe(before + 1);
    // Another route changes, this issuer does not: still cached.
    h.reload((c) => c.routes.push({ ...c.routes[0], id: 'extra', match: { methods: ['GET'], path: '/extra-route' } }));
    expect((await callMtls('/opb/x', token)).status).toBe(200);
    expect(basic.calls.length).toBe(before + 1);
    // The issuer's introspection settings change: its cache starts empty.
    h.reload((c) => (c.issuers['op-basic'].introspection.timeout_ms = 2500));
    expect((await callMtls('/opb/x', token)).status).toBe(200);
    expect(basic.calls.length).toBe(before + 2);
    h.reload();
  });
  it('INT-6 a cached answer serves the next request; a token revoked at the AS is refused within cache_max_s', async () => {
    const token = certBound(pkjwt);
    const before = pkjwt.calls.length;
    expect((await callMtls('/op/x', token)).status).toBe(200);
    expect((await callMtls('/op/y', token)).status).toBe(200);
    expect(pkjwt.calls.length).toBe(before + 1);
    pkjwt.revoke(token);
    await sleep(1100);
    await expect401(await callMtls('/op/x', token), 'GW_TOKEN_INACTIVE');
    expect(pkjwt.calls.length).toBe(before + 2);
    const lookups = await h.gw.metrics.registry.getSingleMetricAsString('fapi_gateway_introspection_lookups_total');
    expect(lookups).toMatch(/cache="hit"\} [1-9]/);
    expect(lookups).toMatch(/cache="miss"\} [1-9]/);
    const calls = await h.gw.metrics.registry.getSingleMetricAsString('fapi_gateway_introspection_calls_total');
    expect(calls).toMatch(/result="refused"\} [1-9]/);
  });
  it('INT-6 single flight over the wire: 20 concurrent requests with one new token -> 1 introspection', async () => {
    const token = certBound(pkjwt);
    pkjwt.mode = 'slow';
    pkjwt.slowMs = 200;
    try {
      const before = pkjwt.calls.length;
      const all = await Promise.all(Array.from({ length: 20 }, () => callMtls('/op/x', token)));
      expect(all.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(pkjwt.calls.length).toBe(before + 1);
    } finally {
      pkjwt.mode = 'ok';
      pkjwt.slowMs = 3000;
    }
  });
});

describe('INT-2 / INT-8 / E9: the AS failing fails closed, and recovers without a restart', () => {
  const failThenRecover = async (mode: IntrospectionAs['mode'], setup?: () => void) => {
    pkjwt.mode = mode;
    setup?.();
    try {
      await expect503(await callMtls('/op/x', certBound(pkjwt)));
    } finally {
      pkjwt.mode = 'ok';
      pkjwt.slowMs = 3000;
    }
    expect((await callMtls('/op/x', certBound(pkjwt))).status).toBe(200);
  };
  it('E9 AS down (503) -> 503 Retry-After, then 200', () => failThenRecover('down'));
  it('E9 AS answering 500 -> 503, then 200', () => failThenRecover('status:500'));
  it('INT-8 AS slower than timeout_ms -> 503 in about the timeout, then 200', async () => {
    const started = Date.now();
    await failThenRecover('slow', () => (pkjwt.slowMs = 2000));
    expect(Date.now() - started).toBeLessThan(1900);
  });
  it('INT-2 AS answering garbage -> 503, then 200', () => failThenRecover('garbage'));
  it('INT-2 active not a boolean -> 503, then 200', () => failThenRecover('not-boolean'));
});

describe('INT-7: RFC 9701 signed introspection answers', () => {
  const spoiled = async (tweak: IntrospectionAs['signed']) => {
    signed.signed = tweak;
    try {
      return await callMtls('/ops/x', certBound(signed));
    } finally {
      signed.signed = {};
    }
  };
  it('INT-7 / SIG-1 a good signed answer -> 200; the gateway asked for token-introspection+jwt with an EdDSA assertion', async () => {
    expect((await callMtls('/ops/x', certBound(signed))).status).toBe(200);
    const call = signed.calls.at(-1)!;
    expect(call.headers.accept).toBe('application/token-introspection+jwt');
    expect(call.authenticated).toBe(true);
  });
  it('INT-7 a signed inactive answer -> 401', async () => {
    await expect401(await callMtls('/ops/x', 'unknown-to-the-as'), 'GW_TOKEN_INACTIVE');
  });
  it('INT-7 wrong aud -> 503', async () => {
    await expect503(await spoiled({ aud: 'someone-else' }));
    expect((await callMtls('/ops/x', certBound(signed))).status).toBe(200);
  });
  it('INT-7 wrong typ -> 503', async () => {
    await expect503(await spoiled({ typ: 'JWT' }));
    expect((await callMtls('/ops/x', certBound(signed))).status).toBe(200);
  });
  it('INT-7 / SIG-1 bad signature -> 503', async () => {
    await expect503(await spoiled({ signWith: (await generateKeyPair('ES256')).privateKey }));
    expect((await callMtls('/ops/x', certBound(signed))).status).toBe(200);
  });
  it('INT-7 plain JSON although a signed answer is required -> 503', async () => {
    await expect503(await spoiled({ plain: true }));
    expect((await callMtls('/ops/x', certBound(signed))).status).toBe(200);
  });
});

describe('TOK-9: the format is the issuer\'s config, never guessed', () => {
  it('TOK-9 an opaque token at a JWT-only route -> 401, no AS asked', async () => {
    const before = pkjwt.calls.length;
    await expect401(await callMtls('/accounts/1', certBound(pkjwt)), 'GW_TOKEN_MALFORMED');
    expect(pkjwt.calls.length).toBe(before);
  });
  it('TOK-9 / TOK-4: a JWT of another configured issuer at an opaque-only route -> 401 GW_TOKEN_ISSUER, never shown to that AS', async () => {
    const jwt = await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
    const before = pkjwt.calls.length;
    await expect401(await callMtls('/op/x', jwt), 'GW_TOKEN_ISSUER');
    expect(pkjwt.calls.length).toBe(before);
  });
  it('TOK-9 a route with a JWT issuer and an opaque issuer: each token goes its own way', async () => {
    const before = pkjwt.calls.length;
    expect((await callMtls('/mixed/x', await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) }))).status).toBe(200);
    expect(pkjwt.calls.length).toBe(before);
    expect((await callMtls('/mixed/x', certBound(pkjwt))).status).toBe(200);
    expect(pkjwt.calls.length).toBe(before + 1);
  });
});

describe('Q-3 / TOK-3: revocation: introspect on a JWT issuer', () => {
  it('Q-3 a JWT is checked locally, then introspected; once revoked it stops working within cache_max_s', async () => {
    const jwt = await revoking.mintJwt({ cnf: cnfX5t(pki.client1.x5tS256) });
    const before = revoking.calls.length;
    expect((await callMtls('/rev/x', jwt)).status).toBe(200);
    expect(revoking.calls.slice(before)).toEqual([expect.objectContaining({ authenticated: true })]);
    expect(revoking.calls.at(-1)!.form.get('token')).toBe(jwt);
    revoking.revoke(jwt);
    await sleep(1100);
    await expect401(await callMtls('/rev/x', jwt), 'GW_TOKEN_INACTIVE');
  });
  it('Q-3 a JWT failing locally never reaches the AS', async () => {
    const before = revoking.calls.length;
    const jwt = await revoking.mintJwt({ cnf: cnfX5t(pki.client1.x5tS256), aud: 'https://other.test' });
    await expect401(await callMtls('/rev/x', jwt), 'GW_TOKEN_AUDIENCE');
    expect(revoking.calls.length).toBe(before);
  });
  it('Q-3 the AS down: a JWT not yet cached -> 503, never acceptance', async () => {
    const jwt = await revoking.mintJwt({ cnf: cnfX5t(pki.client1.x5tS256) });
    revoking.mode = 'down';
    try {
      await expect503(await callMtls('/rev/x', jwt));
    } finally {
      revoking.mode = 'ok';
    }
    expect((await callMtls('/rev/x', jwt)).status).toBe(200);
  });
});
