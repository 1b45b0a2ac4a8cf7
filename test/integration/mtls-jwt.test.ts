// The core pipeline over real TLS: JWT access tokens bound by mTLS (M1-M3, M11-M15, CRED-*, JWT-*, TOK-*, HDR-*).
import { generateKeyPair, SignJWT, exportJWK } from 'jose';
import { randomUUID, createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { AUDIENCE, defaultRoutes, logFor, logsFor, startHarness, type Harness } from '../support/gateway.js';
import { challenges, expectErrorContract as expectContract, refusedNotForwarded as refused } from '../support/contract.js';
import { startOneShotUpstream } from '../support/upstream.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bound = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });
const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];
const refusedNotForwarded = (path: string, opts: Parameters<Harness['call']>[1], status: number, error: string) =>
  refused(h, path, opts ?? {}, status, error);

describe('M2 / CRED-1 / MTLS-2: an mTLS-bound JWT with its certificate is forwarded', () => {
  it('200, identity headers set, credentials stripped, interaction id echoed (HDR-1, HDR-3, HDR-6, HDR-10, HDR-11)', async () => {
    const token = await bound({ sub: 'alice', client_id: 'tpp-1', scope: 'accounts openid' });
    const iid = randomUUID();
    const r = await h.call('/accounts/123?x=1', {
      cert: h.pki.client1,
      headers: [bearer(token), ['x-fapi-interaction-id', iid], ['x-fapi-customer-ip-address', '2001:DB8::1893:25c8:1946'], ['x-fapi-auth-date', 'Tue, 11 Sep 2012 19:43:31 GMT']],
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-fapi-interaction-id']).toBe(iid);
    expect(r.headers.date).toBeDefined();
    const up = h.upstream.received.at(-1)!;
    expect(up.url).toBe('/accounts/123?x=1');
    expect(up.headers['x-authenticated-subject']).toBe('alice');
    expect(up.headers['x-authenticated-client-id']).toBe('tpp-1');
    expect(up.headers['x-authenticated-scope']).toBe('accounts openid');
    expect(up.headers['x-authenticated-issuer']).toBe(h.issuer.issuer);
    expect(up.headers['x-authenticated-binding']).toBe('mtls');
    expect(up.headers['x-authenticated-key-thumbprint']).toBe(h.pki.client1.x5tS256);
    expect(up.headers['x-fapi-interaction-id']).toBe(iid);
    expect(up.headers['x-fapi-customer-ip-address']).toBe('2001:DB8::1893:25c8:1946');
    expect(up.headers['x-fapi-auth-date']).toBe('Tue, 11 Sep 2012 19:43:31 GMT');
    expect(up.headers.authorization).toBeUndefined();
    expect(up.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(up.headers['x-forwarded-proto']).toBe('https');
  });
  it('CRED-2 / CONF-8: the scheme is case-insensitive', async () => {
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `bEARER ${await bound()}`]] });
    expect(r.status).toBe(200);
  });
  it('TLS-10 / MTLS-4: a self-signed client certificate binds without a CA', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.selfSigned.x5tS256) });
    expect((await h.call('/accounts/1', { cert: h.pki.selfSigned, headers: [bearer(token)] })).status).toBe(200);
  });
  it('HDR-9 / CONF-5 / CONF-6: Accept variants do not fail', async () => {
    const token = await bound();
    for (const accept of ['application/json; charset=UTF-8', 'application/json, application/*+json, */*']) {
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['Accept', accept], ['Accept-Charset', 'UTF-8']] });
      expect(r.status).toBe(200);
    }
  });
  it('a verified token is cached: the second call does not refetch keys and still checks the certificate', async () => {
    const token = await bound();
    const fetches = h.issuer.jwksFetches;
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token)] })).status).toBe(200);
    expect((await h.call('/accounts/1', { cert: h.pki.client2, headers: [bearer(token)] })).status).toBe(401);
    expect(h.issuer.jwksFetches).toBe(fetches);
  });
});

describe('M3 / MTLS-2 / MTLS-3 / Q-2: certificate binding failures', () => {
  it('ERR-3: no client certificate -> 401 Bearer invalid_token', async () => {
    const r = await refusedNotForwarded('/mtls/x', { headers: [bearer(await bound())] }, 401, 'invalid_token');
    expect(challenges(r)).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token"/)]);
  });
  it('CONF-7: another client certificate -> 401 invalid_token', async () => {
    const r = await refusedNotForwarded('/mtls/x', { cert: h.pki.client2, headers: [bearer(await bound())] }, 401, 'invalid_token');
    expect(challenges(r)[0]).toContain('error="invalid_token"');
  });
});

describe('M1 / M12 / M13 / M14: credential presentation', () => {
  it('M1 / ERR-1 / ERR-10: no Authorization -> 401 with bare Bearer and DPoP challenges, JSON error body', async () => {
    const r = await refusedNotForwarded('/accounts/1', {}, 401, 'unauthorized');
    expect(challenges(r)).toEqual(['Bearer realm="api.test"', 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
  });
  it('ERR-7: only schemes the route accepts are challenged', async () => {
    expect(challenges(await h.call('/mtls/1'))).toEqual(['Bearer realm="api.test"']);
    expect(challenges(await h.call('/dpop/1'))).toEqual(['DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
  });
  it('M14 / CRED-7: Basic is no credentials', async () => {
    const r = await refusedNotForwarded('/accounts/1', { headers: [['Authorization', 'Basic dXNlcjpwYXNz']] }, 401, 'unauthorized');
    expect(challenges(r).join()).not.toContain('error=');
  });
  it('CRED-2 / ERR-2: an empty Bearer credential -> 400 invalid_request', async () => {
    const r = await refusedNotForwarded('/accounts/1', { headers: [['Authorization', 'Bearer']] }, 400, 'invalid_request');
    expect(challenges(r)).toHaveLength(2);
  });
  it('M13 / CRED-3 / CONF-4 / ERR-2: a token in the query -> 400, never forwarded', async () => {
    const r = await refusedNotForwarded(`/accounts/1?access_token=${await bound()}`, { cert: h.pki.client1 }, 400, 'invalid_request');
    for (const c of challenges(r)) expect(c).toContain('error="invalid_request"');
  });
  it('M12 / CRED-5 / ERR-2: two Authorization fields -> 400 on both challenges', async () => {
    const t = await bound();
    const r = await refusedNotForwarded('/accounts/1', { cert: h.pki.client1, headers: [bearer(t), bearer(t)] }, 400, 'invalid_request');
    expect(challenges(r)).toHaveLength(2);
    for (const c of challenges(r)) expect(c).toContain('error="invalid_request"');
  });
  it('CRED-4: a token in a form body is no credentials', async () => {
    await refusedNotForwarded('/payments', {
      method: 'POST',
      cert: h.pki.client1,
      headers: [['Content-Type', 'application/x-www-form-urlencoded']],
      body: `access_token=${await bound({ scope: 'payments' })}`,
    }, 401, 'unauthorized');
  });
  it('CRED-6: a token only in Proxy-Authorization is no credentials', async () => {
    await refusedNotForwarded('/accounts/1', { cert: h.pki.client1, headers: [['Proxy-Authorization', `Bearer ${await bound()}`]] }, 401, 'unauthorized');
  });
});

describe('TOK-* / JWT-*: access-token validation', () => {
  const refuse = async (token: string, error = 'invalid_token', status = 401) => {
    const r = await refusedNotForwarded('/accounts/1', { cert: h.pki.client1, headers: [bearer(token)] }, status, error);
    return r;
  };
  it('M11 / TOK-1: a token without cnf -> 401 invalid_token on the scheme used', async () => {
    const r = await refuse(await h.issuer.mint());
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
    expect(challenges(r)[1]).toBe('DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"');
  });
  it('TOK-2: cnf with both jkt and x5t#S256, or not an object -> 401', async () => {
    await refuse(await h.issuer.mint({ cnf: { ...cnfX5t(h.pki.client1.x5tS256), ...cnfJkt('A'.repeat(43)) } }));
    await refuse(await h.issuer.mint({ cnf: 'x5t' }));
  });
  it('TOK-5 / JWT-7: a token for another audience -> 401', async () => {
    await refuse(await bound({ aud: 'https://other.test' }));
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound({ aud: ['https://other.test', AUDIENCE] }))] })).status).toBe(200);
  });
  it('TOK-6 / M15: missing scope -> 403 insufficient_scope with scope=', async () => {
    const r = await refuse(await bound({ scope: 'payments' }), 'insufficient_scope', 403);
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="insufficient_scope", error_description="[^"]+", scope="accounts"$/);
  });
  it('JWT-1 / Q-10: typ must be at+jwt', async () => {
    await refuse(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { typ: 'JWT' }));
    await refuse(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { typ: null }));
    const ok = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { typ: 'application/AT+JWT' });
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(ok)] })).status).toBe(200);
  });
  it('JWT-2: alg none, HS256 with the public key as secret, and RS256 are refused', async () => {
    const claims = { cnf: cnfX5t(h.pki.client1.x5tS256) };
    await refuse(await h.issuer.mint(claims, { alg: 'none' }));
    const pub = new TextEncoder().encode(JSON.stringify(h.issuer.current.jwk));
    await refuse(await h.issuer.mint(claims, { alg: 'HS256', key: pub }));
    const rsa = await generateKeyPair('RS256');
    await refuse(await h.issuer.mint(claims, { alg: 'RS256', key: rsa.privateKey }));
  });
  it('JWT-3: keys in the token header (jwk, jku) are never used', async () => {
    const attacker = await generateKeyPair('ES256');
    const jwk = await exportJWK(attacker.publicKey);
    await refuse(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { key: attacker.privateKey, kid: 'attacker', header: { jwk } }));
    await refuse(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { key: attacker.privateKey, header: { jku: 'https://127.0.0.1:1/jwks' } }));
  });
  it('JWT-6 / TOK-4: an issuer with a trailing slash, or one not configured, -> 401', async () => {
    await refuse(await bound({ iss: `${h.issuer.issuer}/` }));
    await refuse(await bound({ iss: 'https://evil.example' }));
  });
  it('JWT-8 / JWT-9 / ERR-3: exp, nbf and iat with a 10 s leeway', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refuse(await bound({ exp: now - 120, iat: now - 400 }));
    await refuse(await bound({ nbf: now + 120 }));
    await refuse(await bound({ iat: now + 120, exp: now + 400 }));
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound({ nbf: now + 5 }))] })).status).toBe(200);
  });
  it('JWT-10: the RFC 9068 claims are required', async () => {
    for (const claim of ['sub', 'client_id', 'jti', 'iat', 'exp', 'aud']) await refuse(await bound({ [claim]: undefined }));
  });
  it('JWT-11 / TOK-9: a JWE or opaque token at a JWT issuer -> 401', async () => {
    await refuse('eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d');
    await refuse('opaque-token-value');
  });
  it('JWT-12: an unknown crit header -> 401', async () => {
    // jose will not sign an unknown crit, so sign by hand with the issuer's real key.
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'ES256', typ: 'at+jwt', kid: h.issuer.current.kid, crit: ['x-unknown'], 'x-unknown': 1 })}.${enc({
      iss: h.issuer.issuer, aud: AUDIENCE, sub: 's', client_id: 'c', jti: randomUUID(), iat: now, exp: now + 60, scope: 'accounts',
      cnf: cnfX5t(h.pki.client1.x5tS256),
    })}`;
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, h.issuer.current.privateKey, new TextEncoder().encode(input));
    await refuse(`${input}.${Buffer.from(sig).toString('base64url')}`);
  });
  it('JWT-5: a corrupted signature -> 401', async () => {
    const t = await bound();
    const [a, b, c] = t.split('.');
    await refuse(`${a}.${b}.${c!.slice(0, -4)}AAAA`);
  });
});

describe('JWT-4: key rotation and unknown kid', () => {
  let g: Harness;
  beforeAll(async () => {
    g = await startHarness({ patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = 1) });
  });
  afterAll(async () => {
    await g?.close();
  });
  const call = async (token: string) => (await g.call('/accounts/1', { cert: g.pki.client1, headers: [bearer(token)] })).status;
  it('a token signed by a newly rotated key is accepted after one refetch', async () => {
    expect(await call(await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) }))).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    await g.issuer.rotate();
    const before = g.issuer.jwksFetches;
    expect(await call(await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) }))).toBe(200);
    expect(g.issuer.jwksFetches).toBe(before + 1);
  });
  it('a flood of unknown kids causes at most one fetch per cooldown', async () => {
    const attacker = await generateKeyPair('ES256');
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) }, { key: attacker.privateKey, kid: `random-${i}` })),
    );
    const before = g.issuer.jwksFetches;
    const started = Date.now();
    for (const t of tokens) expect(await call(t)).toBe(401);
    const windows = 1 + Math.floor((Date.now() - started) / 1000);
    expect(g.issuer.jwksFetches - before).toBeLessThanOrEqual(windows);
    expect(g.issuer.jwksFetches - before).toBeLessThan(tokens.length);
  });
});

describe('routing and hygiene', () => {
  it('404 for an unknown path or method, never forwarded', async () => {
    await refusedNotForwarded('/admin', { cert: h.pki.client1, headers: [bearer(await bound())] }, 404, 'not_found');
    await refusedNotForwarded('/accounts/1', { method: 'DELETE', cert: h.pki.client1, headers: [bearer(await bound())] }, 404, 'not_found');
  });
  it('Q-8: a non-UUID interaction id is replaced by a fresh UUID', async () => {
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound()), ['x-fapi-interaction-id', 'not-a-uuid']] });
    expect(r.status).toBe(200);
    expect(r.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(h.upstream.received.at(-1)!.headers['x-fapi-interaction-id']).toBe(r.headers['x-fapi-interaction-id']);
  });
  it('Q-8 strict: a non-UUID interaction id -> 400 invalid_request with a fresh UUID, never forwarded', async () => {
    const h2 = await startHarness({ patch: (c) => (c.server.interaction_id = 'strict') });
    try {
      const before = h2.upstream.received.length;
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const r = await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', 'not-a-uuid']] });
      expectContract(r, 400, 'invalid_request');
      expect(r.headers['x-fapi-interaction-id']).not.toBe('not-a-uuid');
      expect(h2.upstream.received.length).toBe(before);
      const ok = await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', randomUUID().toUpperCase()]] });
      expect(ok.status).toBe(200);
    } finally {
      await h2.close();
    }
  });
  it('HDR-4 / HDR-5 lenient (default): malformed x-fapi-customer-ip-address and x-fapi-auth-date are forwarded as sent', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-customer-ip-address', 'not-an-ip'], ['x-fapi-auth-date', '2012-09-11']] });
    expect(r.status).toBe(200);
    const up = h.upstream.received.at(-1)!;
    expect(up.headers['x-fapi-customer-ip-address']).toBe('not-an-ip');
    expect(up.headers['x-fapi-auth-date']).toBe('2012-09-11');
  });
  it('HDR-4 / HDR-5 strict: valid values pass unchanged; a malformed one -> 400 invalid_request, never forwarded', async () => {
    const h2 = await startHarness({ patch: (c) => (c.server.fapi_headers = 'strict') });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const ok = await h2.call('/accounts/1', {
        cert: h2.pki.client1,
        headers: [bearer(token), ['x-fapi-customer-ip-address', '2001:DB8::1893:25c8:1946'], ['x-fapi-auth-date', 'Tue, 11 Sep 2012 19:43:31 GMT']],
      });
      expect(ok.status).toBe(200);
      expect(h2.upstream.received.at(-1)!.headers['x-fapi-customer-ip-address']).toBe('2001:DB8::1893:25c8:1946');
      const before = h2.upstream.received.length;
      for (const bad of [['x-fapi-customer-ip-address', '198.51.100.119, 10.0.0.1'], ['x-fapi-auth-date', 'Mon, 11 Sep 2012 19:43:31 GMT']] as [string, string][]) {
        const iid = randomUUID();
        const r = await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token), bad, ['x-fapi-interaction-id', iid]] });
        expectContract(r, 400, 'invalid_request');
        expect(await logFor(h2, iid)).toMatchObject({ reason: 'GW_FAPI_HEADER_INVALID', detail: expect.stringMatching(/^HDR-[45] malformed/) });
      }
      expect(h2.upstream.received.length).toBe(before);
    } finally {
      await h2.close();
    }
  });
  it('HDR-13: x-fapi-end-user-present is forwarded as sent; its absence is never a refusal', async () => {
    const token = await bound();
    for (const v of ['true', 'false']) {
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-end-user-present', v]] });
      expect(r.status, v).toBe(200);
      expect(h.upstream.received.at(-1)!.headers['x-fapi-end-user-present']).toBe(v);
    }
    const before = h.upstream.received.length;
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token)] })).status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });
  it('HDR-8: GET, and every method the route allows (POST, DELETE), reach the upstream with that method; others -> 404, never forwarded', async () => {
    const token = await bound();
    for (const method of ['GET', 'POST', 'DELETE']) {
      const body = method === 'POST' ? '{"a":1}' : undefined;
      const r = await h.call('/mtls/thing', { method, cert: h.pki.client1, headers: [bearer(token), ...(body === undefined ? [] : [['Content-Type', 'application/json'] as [string, string]])], ...(body !== undefined && { body }) });
      expect(r.status, method).toBe(200);
      const up = h.upstream.received.at(-1)!;
      expect([up.method, up.url, up.body.toString()], method).toEqual([method, '/mtls/thing', body ?? '']);
    }
    for (const method of ['PUT', 'PATCH']) {
      await refusedNotForwarded('/mtls/thing', { method, cert: h.pki.client1, headers: [bearer(token)], body: '{}' }, 404, 'not_found');
    }
  });
  it('HDR-10..12 forwarding: the query reaches the upstream exactly as sent (no re-encoding of " \' < >); a fragment is refused', async () => {
    // Regression: the proxy library re-parsed the target with WHATWG URL, which sent `?a=%22...`.
    const query = `a="b"&c='d'&e=<f>&g=%41%2F&h=`;
    // Raw TLS (client certificate client1): an HTTP client library would itself re-encode the target.
    const { response } = await h.raw(`GET /accounts/1?${query} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${await bound()}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(response).status).toBe(200);
    expect(h.upstream.received.at(-1)!.url).toBe(`/accounts/1?${query}`);
    // A fragment is not part of origin-form: refused rather than passed on in the upstream's request line.
    const before = h.upstream.received.length;
    const frag = await h.raw(`GET /accounts/1?a=1#frag HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${await bound()}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(frag.response).status).toBe(400);
    expect(h.upstream.received.length).toBe(before);
  });
  it('binding: none (non-fapi) accepts an unbound token, logged at warn and counted', async () => {
    const iid = randomUUID();
    const r = await h.call('/open/x', { headers: [bearer(await h.issuer.mint()), ['x-fapi-interaction-id', iid]] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.at(-1)!.headers['x-authenticated-binding']).toBe('none');
    const line = await logFor(h, iid);
    expect(line).toMatchObject({ level: 'warn', binding: 'none', decision: 'allow' });
    expect(await h.gw.metrics.registry.getSingleMetricAsString('fapi_gateway_unbound_tokens_accepted_total')).toContain('route="open"} 1');
  });
});

describe('HDR-2 / TOK-10: one log line per request, never a token', () => {
  it('logs decision, reason, route and a token hash prefix, and no token text', async () => {
    const token = await bound({ scope: 'none' });
    const iid = randomUUID();
    await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', iid]] });
    const lines = await logsFor(h, iid);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.logLines().filter((l) => l.interaction_id === iid)).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      route: 'accounts',
      decision: 'deny',
      reason: 'GW_INSUFFICIENT_SCOPE',
      status: 403,
      binding: 'mtls',
      token_hash: createHash('sha256').update(token).digest('hex').slice(0, 16),
    });
    const all = h.logs.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).not.toContain(h.pki.client1.certPem.split('\n')[1]);
  });
});

describe('metrics reflect traffic', () => {
  it('requests by route, decision and reason; stage latencies for token, binding and upstream', async () => {
    const iid = randomUUID();
    await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound()), ['x-fapi-interaction-id', iid]] });
    await logFor(h, iid);
    const r = h.gw.metrics.registry;
    expect(await r.getSingleMetricAsString('fapi_gateway_requests_total')).toMatch(/route="accounts",decision="allow",reason="OK",status="200"\} [1-9]/);
    const stages = await r.getSingleMetricAsString('fapi_gateway_stage_duration_seconds');
    for (const stage of ['token', 'binding', 'upstream']) expect(stages).toMatch(new RegExp(`_count\\{stage="${stage}"\\} [1-9]`));
  });
});

describe('upstream failures', () => {
  /** A gateway with one mTLS route (`upstream` overrides), and an mTLS-bound token for client1. */
  async function withRoute(methods: string[], upstream: Record<string, unknown>, run: (h2: Harness, token: string) => Promise<void>): Promise<void> {
    const h2 = await startHarness({ routes: [{ id: 'up', match: { methods, path_prefix: '/' }, auth: { binding: 'mtls' }, upstream }] });
    try {
      await run(h2, await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) }));
    } finally {
      await h2.close();
    }
  }

  it('upstream refusing connections -> 502 with the interaction id', async () => {
    await withRoute(['GET'], { url: 'http://127.0.0.1:1' }, async (h2, token) => {
      const r = await h2.call('/x', { cert: h2.pki.client1, headers: [bearer(token)] });
      expectContract(r, 502, 'bad_gateway');
      expect(r.body).not.toMatch(/at |Error|ECONN/);
    });
  });
  it('upstream not answering in time -> 504', async () => {
    await withRoute(['GET'], { timeout_ms: 300 }, async (h2, token) => {
      h2.upstream.behaviour = 'hang';
      const r = await h2.call('/x', { cert: h2.pki.client1, headers: [bearer(token)] });
      expectContract(r, 504, 'gateway_timeout');
    });
  });
  it('upstream not answering in time -> 504 also for a request with Expect: 100-continue (no proxyReq event then)', async () => {
    await withRoute(['POST'], { timeout_ms: 300 }, async (h2, token) => {
      h2.upstream.behaviour = 'hang';
      const r = await h2.call('/x', { method: 'POST', body: '{"a":1}', cert: h2.pki.client1, headers: [bearer(token), ['Expect', '100-continue']] });
      expectContract(r, 504, 'gateway_timeout');
      // The gateway answers the expectation itself; the upstream gets the body at once, no Expect (HDR-12).
      expect(h2.upstream.received.at(-1)?.method).toBe('POST');
      expect(h2.upstream.received.at(-1)?.headers.expect).toBeUndefined();
    });
  });
  it('upstream resetting before the deadline -> 502, not 504 (a reset is a timeout only at the deadline)', async () => {
    await withRoute(['GET'], { timeout_ms: 2000 }, async (h2, token) => {
      h2.upstream.behaviour = 'reset';
      h2.upstream.delayMs = 300;
      const before = performance.now();
      const r = await h2.call('/x', { cert: h2.pki.client1, headers: [bearer(token)] });
      expect(performance.now() - before).toBeGreaterThanOrEqual(250);
      expectContract(r, 502, 'bad_gateway');
    });
  });
});

describe('HDR-1 / HDR-12 / HDR-14: the upstream\'s response head', () => {
  it('hop-by-hop, Connection-listed and gateway-owned upstream headers are dropped; repeated fields, status text and body pass', async () => {
    const iid = randomUUID();
    h.upstream.handler = (_req, res) => {
      // Raw head: the upstream spoofs the gateway's headers and lists a private header in Connection. It
      // closes the connection, so the gateway's pool does not reuse a socket Node's server left mid-response.
      res.socket?.end(
        'HTTP/1.1 201 Made It\r\nContent-Type: application/json\r\nConnection: close, X-Internal-Route\r\n' +
          'X-Internal-Route: db-7\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
          'X-Fapi-Interaction-Id: spoofed\r\nDPoP-Nonce: upstream-nonce\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '7\r\n{"a":1}\r\n0\r\n\r\n',
      );
    };
    try {
      const token = await bound({});
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', iid]] });
      expect(r.status).toBe(201);
      expect(r.body).toBe('{"a":1}');
      expect(r.headers['x-fapi-interaction-id']).toBe(iid);
      expect(r.headers['x-internal-route']).toBeUndefined();
      expect(r.headers['dpop-nonce']).toBeUndefined();
      // No nonce on this route: the upstream decides caching.
      expect(r.headers['cache-control']).toBe('max-age=60');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers.date).toBeDefined();
      const names = r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names.filter((n) => n === 'x-fapi-interaction-id')).toHaveLength(1);
      expect(names.filter((n) => n === 'keep-alive' || n === 'connection').length).toBeLessThanOrEqual(2);
      expect(r.rawHeaders).not.toContain('timeout=5');
    } finally {
      h.upstream.handler = undefined;
    }
  });

  it('HDR-12 an HTTP/1.0 client gets a chunked upstream body unchunked, delimited by the connection close', async () => {
    h.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first,');
      setTimeout(() => res.end('second'), 20);
    };
    try {
      const { response, closed } = await h.raw(`GET /accounts/1 HTTP/1.0\r\nHost: api.test\r\nAuthorization: Bearer ${await bound()}\r\n\r\n`);
      const r = parseRawResponse(response);
      expect(r.status).toBe(200);
      expect(r.headers['transfer-encoding']).toBeUndefined();
      expect(r.headers.connection).toBe('close');
      expect(r.body).toBe('first,second');
      expect(closed).toBe(true);
    } finally {
      h.upstream.handler = undefined;
    }
  });

  it('a status Node cannot write (099) -> 502 with the interaction id, logged; the gateway keeps serving', async () => {
    const token = await bound({});
    h.upstream.handler = (_req, res) => {
      res.socket?.end('HTTP/1.1 099 Odd\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    };
    try {
      const iid = randomUUID();
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', iid]] });
      expectContract(r, 502, 'bad_gateway');
      expect(r.headers['x-fapi-interaction-id']).toBe(iid);
      expect((await logFor(h, iid))?.detail).toMatch(/upstream response head refused/);
    } finally {
      h.upstream.handler = undefined;
    }
    const ok = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(token)] });
    expect(ok.status).toBe(200);
  });

  it('an upstream URL with a path and query is joined with the request target (prependPath)', async () => {
    const h2 = await startHarness({
      routes: [{ id: 'legacy', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' }, upstream: { url: `${h.upstream.url}/legacy/v1?tenant=a` } }],
    });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const r = await h2.call('/accounts/1?x=1', { cert: h2.pki.client1, headers: [bearer(token)] });
      expect(r.status).toBe(200);
      expect(h.upstream.received.at(-1)?.url).toBe('/legacy/v1/accounts/1?tenant=a&x=1');
      const r2 = await h2.call('/', { cert: h2.pki.client1, headers: [bearer(token)] });
      expect(r2.status).toBe(200);
      expect(h.upstream.received.at(-1)?.url).toBe('/legacy/v1/?tenant=a');
    } finally {
      await h2.close();
    }
  });
});

describe('upstream keep-alive', () => {
  it('connect_timeout_ms governs connecting: the pool\'s 4 s idle timeout does not cut a slow connect short', async () => {
    // A listener that never accepts, its queue filled: the kernel drops further SYNs, so connect hangs.
    const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const fillers: Socket[] = [];
    try {
      const port = Number(await new Promise<string>((r) => py.stdout.once('data', (d: Buffer) => r(d.toString().trim()))));
      for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
      await new Promise((r) => setTimeout(r, 200));
      const h2 = await startHarness({
        routes: [{ id: 'slow', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' }, upstream: { url: `http://127.0.0.1:${port}`, connect_timeout_ms: 5500, timeout_ms: 10000 } }],
      });
      try {
        const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
        const before = performance.now();
        const r = await h2.call('/a', { cert: h2.pki.client1, headers: [bearer(token)] });
        expectContract(r, 502, 'bad_gateway');
        expect(performance.now() - before).toBeGreaterThanOrEqual(5300);
      } finally {
        await h2.close();
      }
    } finally {
      for (const f of fillers) f.destroy();
      py.kill();
    }
  }, 20_000);

  it('an idle upstream connection is retired before the upstream\'s announced Keep-Alive timeout (no reuse-after-close race)', async () => {
    // Node announces `Keep-Alive: timeout=2`; Node's agent then drops an idle socket after 1 s, before
    // the upstream closes it at 2 s, as long as the forwarder leaves that response header readable.
    const ports: number[] = [];
    const legacy = createServer({ keepAliveTimeout: 2000 }, (req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.end('ok');
    });
    await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r));
    const h2 = await startHarness({
      routes: [{ id: 'legacy', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' }, upstream: { url: `http://127.0.0.1:${(legacy.address() as AddressInfo).port}` } }],
    });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const call = async (): Promise<void> => expect((await h2.call('/a', { cert: h2.pki.client1, headers: [bearer(token)] })).status).toBe(200);
      await call();
      await call();
      expect(ports[1]).toBe(ports[0]); // kept alive while busy
      await new Promise((r) => setTimeout(r, 1300));
      await call();
      expect(ports[2]).not.toBe(ports[1]); // retired after the hint, not reused
    } finally {
      await h2.close();
      legacy.closeAllConnections();
      await new Promise<void>((r) => legacy.close(() => r()));
    }
  });
});

describe('upstream closing a pooled connection under a request', () => {
  it('a GET is sent once more on a new connection; a POST, or a GET with a body, is not (502)', async () => {
    const legacy = await startOneShotUpstream();
    const h2 = await startHarness({
      routes: [{ id: 'legacy', match: { methods: ['GET', 'POST'], path_prefix: '/' }, auth: { binding: 'mtls' }, upstream: { url: legacy.url } }],
    });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const call = (method: string, body?: string): ReturnType<Harness['call']> =>
        h2.call('/a', { method, cert: h2.pki.client1, headers: [bearer(token)], ...(body !== undefined && { body }) });
      expect((await call('GET')).status).toBe(200);
      expect((await call('GET')).status).toBe(200); // reused connection reset, resent on a new one
      expect(legacy.served).toEqual(['GET /a', 'GET /a']);
      const r = await call('POST', '{}'); // reused connection reset: not resent
      expectContract(r, 502, 'bad_gateway');
      expect(legacy.served).toEqual(['GET /a', 'GET /a']);
      expect((await call('GET')).status).toBe(200); // a new connection
      const withBody = await call('GET', '{"q":1}'); // its body went to the first attempt: not resent
      expectContract(withBody, 502, 'bad_gateway');
      expect(legacy.served).toEqual(['GET /a', 'GET /a', 'GET /a']);
      expect(await h2.gw.metrics.registry.getSingleMetricAsString('fapi_gateway_upstream_resends_total')).toMatch(/\{route="legacy"\} 1$/m);
    } finally {
      await h2.close();
      await legacy.close();
    }
  });
});

/**
 * An HTTPS upstream with the test CA's server certificate, and a folder with `ca.pem` (that CA) and
 * `other.pem` (an unrelated self-signed certificate) for `upstream.ca_file`.
 */
async function privateCaUpstream(): Promise<{ url: string; dir: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const legacy = createHttpsServer({ cert: h.pki.server.certPem, key: h.pki.server.keyPem }, (req, res) => {
    req.resume();
    res.end('{"ok":true}');
  });
  legacy.on('secureConnection', () => connections++);
  await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'fapi-upstream-ca-'));
  writeFileSync(join(dir, 'ca.pem'), h.pki.ca.certPem);
  writeFileSync(join(dir, 'other.pem'), h.pki.selfSigned.certPem);
  return {
    url: `https://127.0.0.1:${(legacy.address() as AddressInfo).port}`,
    dir,
    connections: () => connections,
    close: async () => {
      legacy.closeAllConnections();
      await new Promise<void>((r) => legacy.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('TLS-11: an HTTPS upstream and upstream.ca_file', () => {
  it('its certificate must chain to ca_file (200); to Node\'s bundle without it, or to another CA: 502', async () => {
    const { url, dir, close } = await privateCaUpstream();
    const route = (id: string, ca?: string): Record<string, unknown> => ({
      id,
      match: { methods: ['GET'], path_prefix: `/${id}` },
      auth: { binding: 'mtls' },
      upstream: { url, ...(ca !== undefined && { ca_file: join(dir, ca) }) },
    });
    const h2 = await startHarness({ routes: [route('trusted', 'ca.pem'), route('bundle'), route('other', 'other.pem')] });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const call = (p: string): ReturnType<Harness['call']> => h2.call(p, { cert: h2.pki.client1, headers: [bearer(token)] });
      expect((await call('/trusted/1')).status).toBe(200);
      for (const p of ['/bundle/1', '/other/1']) expectContract(await call(p), 502, 'bad_gateway');
      expect((await call('/trusted/2')).status).toBe(200);
      // A file that is not a PEM certificate is refused with the config, not on every request.
      writeFileSync(join(dir, 'garbage.pem'), 'not a certificate');
      expect(() =>
        h2.reload((c) => c.routes.push({ ...c.routes[0], id: 'garbage', match: { methods: ['GET'], path_prefix: '/garbage' }, upstream: { url, ca_file: join(dir, 'garbage.pem') } })),
      ).toThrow(/routes\[3\]\.upstream\.ca_file \(line \d+\): not a PEM certificate/);
      // A missing file: the same config error, with the route's place and the path that was tried.
      expect(() =>
        h2.reload((c) => c.routes.push({ ...c.routes[0], id: 'missing', match: { methods: ['GET'], path_prefix: '/missing' }, upstream: { url, ca_file: join(dir, 'missing.pem') } })),
      ).toThrow(/routes\[3\]\.upstream\.ca_file \(line \d+\): cannot read: ENOENT[^\n]*missing\.pem/);
      expect((await call('/trusted/3')).status).toBe(200);
    } finally {
      await h2.close();
      await close();
    }
  });
});

describe('TLS-11: a reload forgets the upstream CA agents no route uses', () => {
  it('a CA route removed and added back gets a new pool (a new upstream TLS connection), not the old agent', async () => {
    const { url, dir, connections, close } = await privateCaUpstream();
    const trusted = {
      id: 'trusted',
      match: { methods: ['GET'], path_prefix: '/trusted' },
      auth: { binding: 'mtls' },
      upstream: { url, ca_file: join(dir, 'ca.pem') },
    };
    const h2 = await startHarness({ routes: [trusted, defaultRoutes()[1]!] });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const call = (p: string): ReturnType<Harness['call']> => h2.call(p, { cert: h2.pki.client1, headers: [bearer(token)] });
      expect((await call('/trusted/1')).status).toBe(200);
      expect((await call('/trusted/2')).status).toBe(200);
      expect(connections()).toBe(1); // pooled
      h2.reload((c) => (c.routes = c.routes.filter((r: { id: string }) => r.id !== 'trusted')));
      expect((await call('/trusted/3')).status).toBe(404);
      h2.reload();
      expect((await call('/trusted/4')).status).toBe(200);
      // The agent of the first config was dropped with the route; kept, it would have reused its idle connection.
      expect(connections()).toBe(2);
    } finally {
      await h2.close();
      await close();
    }
  });
});

describe('config reload and the issuers\' key caches', () => {
  it('an unchanged issuer keeps its keys, also with new timings; a replaced source\'s cache is dropped, so going back to it fetches afresh', async () => {
    const h2 = await startHarness();
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const ok = async (): Promise<void> => expect((await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token)] })).status).toBe(200);
      await ok();
      const base = h2.issuer.jwksFetches;
      h2.reload();
      await ok();
      expect(h2.issuer.jwksFetches).toBe(base);
      // Timings only: the keys are kept (a refetch would make readiness 503 with the AS down).
      h2.reload((c) => Object.assign(c.issuers.main, { jwks_refetch_cooldown_s: 7, http_timeout_ms: 3000, jwks_refresh_s: 600 }));
      await ok();
      expect(h2.issuer.jwksFetches).toBe(base);
      // Another source (the jwks_uri discovered from metadata instead of configured): a cache of its own.
      h2.reload((c) => delete c.issuers.main.jwks_uri);
      await ok();
      expect(h2.issuer.jwksFetches).toBe(base + 1);
      // Without pruning, the first cache would still be held (and reused here) after any number of reloads.
      h2.reload();
      await ok();
      expect(h2.issuer.jwksFetches).toBe(base + 2);
    } finally {
      await h2.close();
    }
  });
});

describe('E9 / TLS-11: the issuer\'s keys unavailable', () => {
  it('JWKS down with no cached key -> 503 Retry-After, then recovers by itself', async () => {
    const h2 = await startHarness({ patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = 1) });
    try {
      h2.issuer.mode = 'down';
      // Keys may have been warmed at start: rotate so the token's kid is unknown and a fetch is needed.
      await h2.issuer.rotate();
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      const r = await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token)] });
      expectContract(r, 503, 'temporarily_unavailable');
      expect(r.headers['retry-after']).toBeDefined();
      expect(r.headers['www-authenticate']).toBeUndefined();
      h2.issuer.mode = 'ok';
      await new Promise((r) => setTimeout(r, 1100));
      expect((await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token)] })).status).toBe(200);
    } finally {
      await h2.close();
    }
  });
  it('garbage JWKS -> 503, never acceptance', async () => {
    const h2 = await startHarness();
    try {
      h2.issuer.mode = 'garbage';
      await h2.issuer.rotate();
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      expectContract(await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token)] }), 503, 'temporarily_unavailable');
    } finally {
      await h2.close();
    }
  });
  it('TLS-11: an issuer whose TLS certificate is not trusted -> 503', async () => {
    const h2 = await startHarness({ patch: (c) => delete c.issuers.main.ca_file });
    try {
      const token = await h2.issuer.mint({ cnf: cnfX5t(h2.pki.client1.x5tS256) });
      expectContract(await h2.call('/accounts/1', { cert: h2.pki.client1, headers: [bearer(token)] }), 503, 'temporarily_unavailable');
    } finally {
      await h2.close();
    }
  });
});

describe('malformed tokens never crash', () => {
  it('a JWS whose payload is not an object -> 401', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const jws = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
    const [a, , c] = jws.split('.');
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(`${a}.${Buffer.from('[1,2]').toString('base64url')}.${c}`)] });
    expectContract(r, 401, 'invalid_token');
  });
});
