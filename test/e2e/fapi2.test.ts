// E2E: a real FAPI 2.0 AS (oidc-provider) issues RFC 9068 access tokens to real clients (openid-client /
// oauth4webapi), which call the legacy API through the gateway with DPoP proofs or their TLS client
// certificate. Attacks use the same libraries with stolen tokens, other keys, other connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiAnswer, DpopKey } from '../../scripts/lib/tpp.js';
import { API, decodeJwt, OTHER_AUDIENCE, REDIRECT_URI, startWorld, type World } from './world.js';

let w: World;
let dpopKey: DpopKey;
beforeAll(async () => {
  w = await startWorld();
  dpopKey = await w.tpp.dpop.dpopKey('ES256');
});
afterAll(async () => {
  await w?.close();
});

/** The gateway's log line for an answer: its `reason` is the catalog code (or OK). */
async function reasonOf(a: ApiAnswer): Promise<string | undefined> {
  return (await w.logFor(a.interactionId))?.reason as string | undefined;
}

/** Runs fn and returns how many requests reached the legacy API meanwhile. */
async function upstreamCalls<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const before = w.upstream.received.length;
  const r = await fn();
  return [r, w.upstream.received.length - before];
}

describe('interop: what oidc-provider issues is what the gateway checks', () => {
  it('JWT-1 / TOK-2 / RFC 9068: typ at+jwt, PS256 with a kid, aud = the resource indicator, cnf.jkt = the DPoP key thumbprint', async () => {
    const token = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
    const { header, payload } = decodeJwt(token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'PS256' });
    expect(typeof header.kid).toBe('string');
    expect(payload).toMatchObject({ iss: w.as.issuer, aud: API, client_id: 'tpp-dpop', sub: 'tpp-dpop', scope: 'accounts', cnf: { jkt: dpopKey.jkt } });
    for (const c of ['iat', 'exp', 'jti']) expect(payload[c], c).toBeDefined();
  });
  it('TOK-2 / RFC 8705: a tls_client_auth client gets cnf["x5t#S256"] = its certificate thumbprint', async () => {
    const { payload } = decodeJwt(await w.tpp.mtls.clientCredentials({ resource: API, scope: 'accounts' }));
    expect(payload.cnf).toEqual({ 'x5t#S256': w.pki.client1.x5tS256 });
  });
});

describe('sender-constrained calls that must work', () => {
  it('M7: DPoP: client_credentials (private_key_jwt, resource indicator) + DPoP proof -> 200, identity forwarded', async () => {
    const token = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
    const [a, calls] = await upstreamCalls(() => w.tpp.dpop.call(token, w.url('/accounts/123?fields=balance'), { dpop: dpopKey }));
    expect(a.status).toBe(200);
    expect(a.echoedInteractionId).toBe(a.interactionId);
    expect(calls).toBe(1);
    const got = w.upstream.received.at(-1)!;
    expect(got.url).toBe('/accounts/123?fields=balance');
    expect(got.headers).toMatchObject({
      'x-authenticated-subject': 'tpp-dpop',
      'x-authenticated-client-id': 'tpp-dpop',
      'x-authenticated-scope': 'accounts',
      'x-authenticated-issuer': w.as.issuer,
      'x-authenticated-binding': 'dpop',
      'x-authenticated-key-thumbprint': dpopKey.jkt,
      'x-fapi-interaction-id': a.interactionId,
    });
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers.dpop).toBeUndefined();
    expect(await reasonOf(a)).toBe('OK');
  });

  it('M2 / MTLS-2: mTLS: client_credentials (tls_client_auth, CA-issued certificate) + the same certificate at the gateway -> 200', async () => {
    const token = await w.tpp.mtls.clientCredentials({ resource: API, scope: 'accounts' });
    const a = await w.tpp.mtls.call(token, w.url('/accounts/123'));
    expect(a.status).toBe(200);
    expect(w.upstream.received.at(-1)!.headers).toMatchObject({
      'x-authenticated-client-id': 'tpp-mtls',
      'x-authenticated-binding': 'mtls',
      'x-authenticated-key-thumbprint': w.pki.client1.x5tS256,
    });
    expect(await reasonOf(a)).toBe('OK');
  });

  it('M2 / MTLS-4: mTLS: self_signed_tls_client_auth -> 200 (RFC 8705 §6.2: binding without a CA)', async () => {
    const token = await w.tpp.selfSigned.clientCredentials({ resource: API, scope: 'accounts' });
    const a = await w.tpp.selfSigned.call(token, w.url('/accounts/7'));
    expect(a.status).toBe(200);
    expect(w.upstream.received.at(-1)!.headers['x-authenticated-key-thumbprint']).toBe(w.pki.selfSigned.x5tS256);
  });

  it('M2: mTLS: POST /payments with a payments-scoped token -> 200, the body reaches the API', async () => {
    const token = await w.tpp.mtls.clientCredentials({ resource: API, scope: 'payments' });
    const body = JSON.stringify({ amount: '10.00', currency: 'EUR' });
    const a = await w.tpp.mtls.call(token, w.url('/payments'), { method: 'POST', body });
    expect(a.status).toBe(200);
    const got = w.upstream.received.at(-1)!;
    expect(got.method).toBe('POST');
    expect(got.body.toString()).toBe(body);
  });

  it('M7: FAPI 2.0 authorization code flow: PAR + PKCE + DPoP (dpop_jkt) for a user -> 200 with the user as subject', async () => {
    const key = await w.tpp.dpop.dpopKey('ES256');
    const token = await w.tpp.dpop.authorizationCode({ resource: API, scope: 'accounts', redirectUri: REDIRECT_URI, dpop: key });
    expect(decodeJwt(token).payload).toMatchObject({ sub: 'alice', client_id: 'tpp-dpop', aud: API, cnf: { jkt: key.jkt } });
    const a = await w.tpp.dpop.call(token, w.url('/accounts/alice'), { dpop: key });
    expect(a.status).toBe(200);
    expect(w.upstream.received.at(-1)!.headers['x-authenticated-subject']).toBe('alice');
  });
});

describe('attacks the gateway must refuse (nothing reaches the API)', () => {
  it('M9 / DPOP-14 / Q-1: a stolen DPoP-bound token used with the thief\'s own DPoP key -> 401 invalid_token', async () => {
    const stolen = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
    const thiefKey = await w.tpp.thief.dpopKey('ES256');
    const [a, calls] = await upstreamCalls(() => w.tpp.thief.call(stolen, w.url('/accounts/123'), { dpop: thiefKey }));
    expect(a.status).toBe(401);
    expect(a.error).toBe('invalid_token');
    expect(a.challenges?.find((c) => c.scheme === 'dpop')?.parameters.error).toBe('invalid_token');
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_DPOP_KEY_MISMATCH');
  });

  it('M4 / DPOP-17 / Q-5: a stolen DPoP-bound token sent as a plain Bearer token -> 401 invalid_token', async () => {
    const stolen = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
    const [a, calls] = await upstreamCalls(() => w.tpp.thief.call(stolen, w.url('/accounts/123')));
    expect(a.status).toBe(401);
    expect(a.challenges?.find((c) => c.scheme === 'bearer')?.parameters.error).toBe('invalid_token');
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_DPOP_BOUND_AS_BEARER');
  });

  it('M3 / MTLS-3 / Q-2: a stolen mTLS-bound token over another client\'s TLS connection -> 401 invalid_token', async () => {
    const stolen = await w.tpp.mtls.clientCredentials({ resource: API, scope: 'accounts' });
    const [a, calls] = await upstreamCalls(() => w.tpp.other.call(stolen, w.url('/accounts/123')));
    expect(a.status).toBe(401);
    expect(a.challenges?.find((c) => c.scheme === 'bearer')?.parameters.error).toBe('invalid_token');
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_CERT_MISMATCH');
  });

  it('M3 / Q-2: a stolen mTLS-bound token over a connection without a client certificate -> 401 invalid_token', async () => {
    const stolen = await w.tpp.mtls.clientCredentials({ resource: API, scope: 'accounts' });
    const a = await w.tpp.thief.call(stolen, w.url('/accounts/123'));
    expect(a.status).toBe(401);
    expect(a.error).toBe('invalid_token');
    expect(await reasonOf(a)).toBe('GW_CERT_MISSING');
  });

  it('DPOP-21 / Q-1: a captured request (token + DPoP proof) replayed -> 401 invalid_dpop_proof', async () => {
    const token = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
    const first = await w.tpp.dpop.call(token, w.url('/accounts/123'), { dpop: dpopKey });
    expect(first.status).toBe(200);
    const captured = w.tpp.dpop.lastRequest()!;
    expect(captured.headers.find(([n]) => n.toLowerCase() === 'dpop')).toBeDefined();
    const [a, calls] = await upstreamCalls(() => w.tpp.thief.replay(captured));
    expect(a.status).toBe(401);
    expect(a.error).toBe('invalid_dpop_proof');
    expect(a.wwwAuthenticate).toMatch(/DPoP [^,]*, error="invalid_dpop_proof"/);
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_DPOP_REPLAY');
  });

  it('TOK-5 / JWT-7: a token the AS issued for another audience (resource indicator) -> 401 invalid_token', async () => {
    const token = await w.tpp.dpop.clientCredentials({ resource: OTHER_AUDIENCE, scope: 'accounts', dpop: dpopKey });
    expect(decodeJwt(token)).toMatchObject({ header: { alg: 'ES256', typ: 'at+jwt' }, payload: { aud: OTHER_AUDIENCE } });
    const [a, calls] = await upstreamCalls(() => w.tpp.dpop.call(token, w.url('/accounts/123'), { dpop: dpopKey }));
    expect(a.status).toBe(401);
    expect(a.error).toBe('invalid_token');
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_TOKEN_AUDIENCE');
  });

  it('M15 / TOK-6 / ERR-4: a token without the route\'s scope -> 403 insufficient_scope with scope="accounts"', async () => {
    const token = await w.tpp.mtls.clientCredentials({ resource: API, scope: 'payments' });
    const [a, calls] = await upstreamCalls(() => w.tpp.mtls.call(token, w.url('/accounts/123')));
    expect(a.status).toBe(403);
    expect(a.error).toBe('insufficient_scope');
    expect(a.challenges?.find((c) => c.scheme === 'bearer')?.parameters.scope).toBe('accounts');
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_INSUFFICIENT_SCOPE');
  });

  it('route binding policy: a DPoP-bound token on the mTLS-only payments route -> 401 invalid_token', async () => {
    const token = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'payments', dpop: dpopKey });
    const [a, calls] = await upstreamCalls(() => w.tpp.dpop.call(token, w.url('/payments'), { method: 'POST', body: '{}', dpop: dpopKey }));
    expect(a.status).toBe(401);
    // The route offers only the Bearer scheme (ERR-7), so that is the challenge carrying the error.
    expect(a.wwwAuthenticate).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
    expect(calls).toBe(0);
    expect(await reasonOf(a)).toBe('GW_BINDING_NOT_ACCEPTED');
  });
});
