// Introspector: the INT-2..INT-8 checks in order and the INT-6 cache, over a fake transport and clock.
import type { webcrypto } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { clientSecretBasic } from '../../../src/token/client-auth.js';
import type { OutboundResponse } from '../../../src/token/http-client.js';
import { Introspector, JWT_RESPONSE_TYPE, type Transport } from '../../../src/token/introspection.js';
import { sha256Hex } from '../../../src/token/jwt-validator.js';
import { AUD, ISSUER, issuerConfig } from './introspection-fixtures.js';

const X5T = 'A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0';
const JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
const T0 = 1_700_000_000_000;

type Reply = Partial<OutboundResponse> & { json?: unknown; text?: string };

/** A fake AS: `reply` answers each POST; every call is recorded. */
function fakeAs(reply: (form: URLSearchParams, headers: Record<string, string>) => Reply | Promise<Reply>) {
  const calls: { url: string; form: URLSearchParams; headers: Record<string, string>; timeoutMs: number }[] = [];
  const transport: Transport = async (url, opts) => {
    const form = new URLSearchParams(String(opts.body ?? ''));
    const headers = opts.headers ?? {};
    calls.push({ url, form, headers, timeoutMs: opts.timeoutMs });
    const r = await reply(form, headers);
    const body = r.body ?? Buffer.from(r.text ?? JSON.stringify(r.json ?? {}));
    return { status: r.status ?? 200, contentType: r.contentType ?? 'application/json', body };
  };
  return { calls, transport };
}

let now = T0;
const clock = () => now;
const nowS = () => Math.floor(now / 1000);
const active = (extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: ISSUER,
  aud: AUD,
  sub: 'alice',
  client_id: 'tpp',
  scope: 'accounts payments',
  exp: nowS() + 300,
  iat: nowS(),
  cnf: { 'x5t#S256': X5T },
  ...extra,
});

function introspector(cfg: IssuerConfig, transport: Transport, keys: Parameters<typeof createLocalJWKSet>[0] = { keys: [] }, previous?: Introspector) {
  return new Introspector(
    { name: 'as', config: cfg, keys: { getKey: createLocalJWKSet(keys) as never } },
    { auth: clientSecretBasic('gw', 'secret'), transport, now: clock, previous },
  );
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof GatewayError) return `${e.status} ${e.code}`;
    throw e;
  }
}

const TOKEN = 'opaque-token-1';
const run = (i: Introspector, token = TOKEN) => i.introspect(token, sha256Hex(token));

describe('INT-1: the introspection request', () => {
  it('INT-1 POSTs token and token_type_hint as a form, with client authentication and the timeout', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    await run(introspector(issuerConfig({ timeout_ms: 1234 }), as.transport));
    const [c] = as.calls;
    expect(c?.url).toBe(`${ISSUER}/introspect`);
    expect(c?.form.get('token')).toBe(TOKEN);
    expect(c?.form.get('token_type_hint')).toBe('access_token');
    expect(c?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(c?.headers.accept).toBe('application/json');
    expect(c?.headers.authorization).toBe(`Basic ${Buffer.from('gw:secret').toString('base64')}`);
    // What is left of timeout_ms on the monotonic clock (real time, not the injected wall clock).
    expect(c?.timeoutMs).toBeGreaterThan(1200);
    expect(c?.timeoutMs).toBeLessThanOrEqual(1234);
  });
  it('INT-1 discovers the endpoint from RFC 8414 metadata, once', async () => {
    now = T0;
    const urls: string[] = [];
    const transport: Transport = async (url) => {
      urls.push(url);
      if (url.includes('/.well-known/oauth-authorization-server')) {
        return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify({ issuer: ISSUER, introspection_endpoint: `${ISSUER}/i2` })) };
      }
      return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(active())) };
    };
    const i = introspector(issuerConfig({ endpoint: undefined, cache_max_s: 0 }), transport);
    await run(i, 'a');
    await run(i, 'b');
    expect(urls).toEqual([`${ISSUER}/.well-known/oauth-authorization-server`, `${ISSUER}/i2`, `${ISSUER}/i2`]);
  });
  it('INT-1 metadata naming another issuer is refused: 503', async () => {
    now = T0;
    const transport: Transport = async () => ({ status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify({ issuer: 'https://evil.test', introspection_endpoint: 'https://evil.test/i' })) });
    expect(await outcome(run(introspector(issuerConfig({ endpoint: undefined }), transport)))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
});

describe('INT-2: the answer must be an answer', () => {
  const cases: [string, Reply][] = [
    ['HTTP 500', { status: 500, json: { error: 'server_error' } }],
    ['HTTP 401 (our client authentication refused)', { status: 401, json: { error: 'invalid_client' } }],
    ['a body that is not JSON', { text: '<html>' }],
    ['a JSON array', { json: [1] }],
    ['no active member', { json: { scope: 'x' } }],
    ['active as a string', { json: { active: 'true' } }],
  ];
  for (const [name, reply] of cases) {
    it(`INT-2 ${name} -> 503, never "inactive"`, async () => {
      now = T0;
      const as = fakeAs(() => reply);
      const i = introspector(issuerConfig(), as.transport);
      const e = await run(i).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(GatewayError);
      expect((e as GatewayError).code).toBe('GW_INTROSPECTION_UNAVAILABLE');
      expect((e as GatewayError).retryAfterS).toBeGreaterThan(0);
    });
  }
  it('INT-8 a transport failure (timeout, TLS, reset) -> 503', async () => {
    now = T0;
    const transport: Transport = async () => {
      throw new Error('timed out after 2000 ms');
    };
    expect(await outcome(run(introspector(issuerConfig(), transport)))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
  it('INT-2 active false -> 401 GW_TOKEN_INACTIVE', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: { active: false } }));
    expect(await outcome(run(introspector(issuerConfig(), as.transport)))).toBe('401 GW_TOKEN_INACTIVE');
  });
  it('INT-2 HTTP 400 unsupported_token_type (the AS will not introspect this token) -> 401 inactive; any other 400 -> 503', async () => {
    now = T0;
    const refuses = fakeAs(() => ({ status: 400, json: { error: 'unsupported_token_type' } }));
    expect(await outcome(run(introspector(issuerConfig(), refuses.transport)))).toBe('401 GW_TOKEN_INACTIVE');
    const broken = fakeAs(() => ({ status: 400, json: { error: 'invalid_client' } }));
    expect(await outcome(run(introspector(issuerConfig(), broken.transport)))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
});

describe('INT-3 / INT-4 / INT-5: the members of an active answer', () => {
  const check = async (extra: Record<string, unknown>) => {
    now = T0;
    const as = fakeAs(() => ({ json: active(extra) }));
    return outcome(run(introspector(issuerConfig(), as.transport)));
  };
  it('INT-3 exp passed (beyond the leeway) -> 401 expired; within the leeway -> accepted', async () => {
    expect(await check({ exp: nowS() - 11 })).toBe('401 GW_TOKEN_EXPIRED');
    expect(await check({ exp: nowS() - 5 })).toBe('ok');
  });
  it('INT-3 nbf in the future beyond the leeway -> 401', async () => {
    expect(await check({ nbf: nowS() + 120 })).toBe('401 GW_TOKEN_EXPIRED');
    expect(await check({ nbf: nowS() + 5 })).toBe('ok');
  });
  it('INT-3 iss, when present, must be the configured issuer exactly', async () => {
    expect(await check({ iss: `${ISSUER}/` })).toBe('401 GW_TOKEN_ISSUER');
    expect(await check({ iss: undefined })).toBe('ok');
  });
  it('INT-2 / INT-3 members with the wrong type: the AS misbehaving -> 503, not 401', async () => {
    for (const extra of [{ exp: '123' }, { scope: ['a'] }, { client_id: 1 }, { aud: [1] }, { token_type: {} }, { sub: false }]) {
      expect(await check(extra), JSON.stringify(extra)).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    }
  });
  it('INT-4 / TOK-2 cnf with both methods -> 401; cnf of another JSON type is the AS misbehaving (INT-3) -> 503', async () => {
    expect(await check({ cnf: { 'x5t#S256': X5T, jkt: JKT } })).toBe('401 GW_TOKEN_CNF_INVALID');
    expect(await check({ cnf: 'x' })).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
  it('INT-3..INT-5 the claims: scopes split on spaces, aud as a list, cnf, token_type, acr, auth_time', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active({ aud: AUD, cnf: { jkt: JKT }, token_type: 'DPoP', acr: 'urn:high', auth_time: nowS() - 60 }) }));
    const c = await run(introspector(issuerConfig(), as.transport));
    expect(c).toMatchObject({
      issuerName: 'as',
      issuer: ISSUER,
      subject: 'alice',
      clientId: 'tpp',
      scopes: ['accounts', 'payments'],
      audience: [AUD],
      expiresAt: nowS() + 300,
      cnf: { kind: 'jkt', thumbprint: JKT },
      tokenType: 'DPoP',
      acr: 'urn:high',
      authTime: nowS() - 60,
      tokenHash: sha256Hex(TOKEN),
    });
  });
});

describe('INT-6: the cache', () => {
  it('INT-6 across a config reload: answers carry over while the issuer settings are unchanged', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    const before = introspector(issuerConfig(), as.transport);
    await run(before);
    // A new config object with the same settings (a reload of an unchanged issuer; secrets may have rotated).
    const sameSettings = introspector(issuerConfig(), as.transport, undefined, before);
    await run(sameSettings);
    expect(as.calls).toHaveLength(1);
    // A setting the answers depend on changed: start empty and ask the AS.
    const changed = introspector(issuerConfig({ cache_max_s: 30 }), as.transport, undefined, sameSettings);
    await run(changed);
    expect(as.calls).toHaveLength(2);
    const otherClient = introspector(issuerConfig({ client_id: 'gw-2' }), as.transport, undefined, changed);
    await run(otherClient);
    expect(as.calls).toHaveLength(3);
  });
  it('INT-6 across reloads: an introspector does not keep the one it replaced (nor the chain before it) alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const as = fakeAs(() => ({ json: active() }));
    let x = introspector(issuerConfig(), as.transport);
    const first = new WeakRef(x);
    // Each reload changes a setting, so each has its own cache: five generations, five caches.
    for (let i = 1; i <= 5; i++) x = introspector(issuerConfig({ cache_max_s: 60 + i }), as.transport, undefined, x);
    // No deref() before collecting: a WeakRef's target stays alive until the end of the job that read it.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
      gc();
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(first.deref()).toBeUndefined();
    expect(x).toBeInstanceOf(Introspector);
  });
  it('INT-6 across a reload: a rotated client certificate (new files) keeps the answers', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    const mtls = (n: number) => issuerConfig({ auth: 'tls_client_auth', client_secret_env: undefined, cert_file: `c${n}.crt`, key_file: `c${n}.key` });
    const before = introspector(mtls(1), as.transport);
    await run(before);
    await run(introspector(mtls(2), as.transport, undefined, before));
    expect(as.calls).toHaveLength(1);
  });
  it('INT-6 a hit: the second request does not call the AS', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    const i = introspector(issuerConfig(), as.transport);
    await run(i);
    now += 30_000;
    await run(i);
    expect(as.calls).toHaveLength(1);
  });
  it('INT-6 positive answers live at most cache_max_s', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active({ exp: nowS() + 3600 }) }));
    const i = introspector(issuerConfig({ cache_max_s: 60 }), as.transport);
    await run(i);
    now += 59_000;
    await run(i);
    expect(as.calls).toHaveLength(1);
    now += 1000;
    await run(i);
    expect(as.calls).toHaveLength(2);
  });
  it('INT-6 never past exp: a cached answer expires at exp, and the AS is asked again', async () => {
    now = T0;
    const exp = nowS() + 20;
    let answer: unknown = active({ exp });
    const as = fakeAs(() => ({ json: answer }));
    const i = introspector(issuerConfig({ cache_max_s: 60 }), as.transport);
    await run(i);
    now = (exp - 1) * 1000;
    expect(await outcome(run(i))).toBe('ok');
    expect(as.calls).toHaveLength(1);
    now = exp * 1000;
    answer = { active: false };
    expect(await outcome(run(i))).toBe('401 GW_TOKEN_INACTIVE');
    expect(as.calls).toHaveLength(2);
  });
  it('INT-6 a negative answer is cached only negative_cache_s', async () => {
    now = T0;
    let answer: unknown = { active: false };
    const as = fakeAs(() => ({ json: answer }));
    const i = introspector(issuerConfig({ negative_cache_s: 5 }), as.transport);
    expect(await outcome(run(i))).toBe('401 GW_TOKEN_INACTIVE');
    now += 4_999;
    answer = active();
    expect(await outcome(run(i))).toBe('401 GW_TOKEN_INACTIVE');
    expect(as.calls).toHaveLength(1);
    now += 1;
    expect(await outcome(run(i))).toBe('ok');
    expect(as.calls).toHaveLength(2);
  });
  it('INT-6 negative_cache_s is capped at 10 by the schema', () => {
    expect(() => issuerConfig({ negative_cache_s: 11 })).toThrow(/negative_cache_s/);
  });
  it('INT-6 errors are never cached: the next request asks again and recovers', async () => {
    now = T0;
    let fail = true;
    const as = fakeAs(() => (fail ? { status: 503, text: 'down' } : { json: active() }));
    const i = introspector(issuerConfig(), as.transport);
    expect(await outcome(run(i))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    fail = false;
    expect(await outcome(run(i))).toBe('ok');
    expect(as.calls).toHaveLength(2);
  });
  it('INT-6 single flight: 50 concurrent identical tokens -> 1 AS call', async () => {
    now = T0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const as = fakeAs(async () => {
      await gate;
      return { json: active() };
    });
    const i = introspector(issuerConfig(), as.transport);
    const all = Array.from({ length: 50 }, () => run(i));
    await new Promise((r) => setTimeout(r, 10));
    release();
    const results = await Promise.all(all);
    expect(as.calls).toHaveLength(1);
    expect(new Set(results.map((c) => c.subject))).toEqual(new Set(['alice']));
  });
  it('INT-6 single flight shares a failure too, and it is not cached', async () => {
    now = T0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const as = fakeAs(async () => {
      await gate;
      return { status: 500, text: 'x' };
    });
    const i = introspector(issuerConfig(), as.transport);
    const all = Array.from({ length: 50 }, () => outcome(run(i)));
    release();
    expect(new Set(await Promise.all(all))).toEqual(new Set(['503 GW_INTROSPECTION_UNAVAILABLE']));
    expect(as.calls).toHaveLength(1);
  });
  it('INT-6 bounded by cache_max_entries', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    const i = introspector(issuerConfig({ cache_max_entries: 10 }), as.transport);
    for (let n = 0; n < 30; n++) await run(i, `t${n}`);
    expect(as.calls).toHaveLength(30);
    await run(i, 't29');
    expect(as.calls).toHaveLength(30);
    await run(i, 't0');
    expect(as.calls).toHaveLength(31);
  });
  it('INT-6 cached answers are keyed by the token hash: another token is another call', async () => {
    now = T0;
    const as = fakeAs(() => ({ json: active() }));
    const i = introspector(issuerConfig(), as.transport);
    await run(i, 'a');
    await run(i, 'b');
    expect(as.calls.map((c) => c.form.get('token'))).toEqual(['a', 'b']);
  });
});

describe('INT-8: circuit breaker', () => {
  it('INT-8 after 5 consecutive failures the AS is not called for 2 s, then tried again', async () => {
    now = T0;
    let fail = true;
    const as = fakeAs(() => (fail ? { status: 502, text: 'bad gateway' } : { json: active() }));
    const i = introspector(issuerConfig(), as.transport);
    for (let n = 0; n < 5; n++) expect(await outcome(run(i, `t${n}`))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    expect(as.calls).toHaveLength(5);
    fail = false;
    const open = await run(i, 'x').catch((e: GatewayError) => e);
    expect((open as GatewayError).code).toBe('GW_INTROSPECTION_UNAVAILABLE');
    expect((open as GatewayError).retryAfterS).toBeGreaterThanOrEqual(1);
    expect(as.calls).toHaveLength(5);
    now += 2000;
    expect(await outcome(run(i, 'x'))).toBe('ok');
  });
  it('INT-8 the open period counts from the failure, so slow timeouts open the circuit too', async () => {
    now = T0;
    let calls = 0;
    const transport: Transport = async (_url, opts) => {
      calls++;
      now += opts.timeoutMs; // the call hung until the timeout
      throw new Error(`timed out after ${opts.timeoutMs} ms`);
    };
    const i = introspector(issuerConfig({ timeout_ms: 2000 }), transport);
    for (let n = 0; n < 5; n++) await run(i, `t${n}`).catch(() => undefined);
    expect(calls).toBe(5);
    expect(await outcome(run(i, 'y'))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    expect(calls).toBe(5);
  });
});

describe('INT-8: half-open (found in review: every waiting token hit the recovering AS at once)', () => {
  it('INT-8 after the open period one call goes through; the others fail fast until it succeeds; a failed probe reopens', async () => {
    now = T0;
    let fail = true;
    let release: () => void = () => undefined;
    const as = fakeAs(async () => {
      if (fail) return { status: 502, text: 'bad gateway' };
      await new Promise<void>((ok) => (release = ok));
      return { json: active() };
    });
    const i = introspector(issuerConfig(), as.transport);
    for (let n = 0; n < 5; n++) await run(i, `t${n}`).catch(() => undefined);
    expect(as.calls).toHaveLength(5);
    // A failed probe opens the circuit again for the whole period.
    now += 2000;
    expect(await outcome(run(i, 'p1'))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    expect(as.calls).toHaveLength(6);
    now += 1999;
    expect(await outcome(run(i, 'p2'))).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    expect(as.calls).toHaveLength(6);
    now += 1;
    fail = false;
    const probe = run(i, 'probe');
    await new Promise((r) => setImmediate(r));
    // While the probe is under way, ten other tokens fail fast without calling the AS.
    const others = await Promise.all(Array.from({ length: 10 }, (_, n) => outcome(run(i, `o${n}`))));
    expect(others).toEqual(Array(10).fill('503 GW_INTROSPECTION_UNAVAILABLE'));
    expect(as.calls).toHaveLength(7);
    release();
    expect(await outcome(probe)).toBe('ok');
    // Closed again: every token is introspected.
    const after = run(i, 'after');
    await new Promise((r) => setImmediate(r));
    release();
    expect(await outcome(after)).toBe('ok');
    expect(as.calls).toHaveLength(8);
  });
});

describe('INT-7: RFC 9701 signed answers', () => {
  let asKey: webcrypto.CryptoKey;
  let otherKey: webcrypto.CryptoKey;
  let jwks: { keys: JWK[] };
  beforeAll(async () => {
    const kp = await generateKeyPair('ES256');
    asKey = kp.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    jwks = { keys: [{ ...(await exportJWK(kp.publicKey)), kid: 'as-1', alg: 'ES256' }] };
  });
  const sign = (payload: Record<string, unknown>, o: { typ?: string; key?: webcrypto.CryptoKey; alg?: string; aud?: string; iss?: string; iat?: boolean; crit?: boolean } = {}) => {
    const jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: o.alg ?? 'ES256', kid: 'as-1', typ: o.typ ?? 'token-introspection+jwt', ...(o.crit && { crit: ['x'], x: 1 }) })
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? 'gw');
    if (o.iat !== false) jwt.setIssuedAt(nowS());
    return jwt.sign(o.key ?? asKey);
  };
  const signedReply = (body: Promise<string> | string, contentType = JWT_RESPONSE_TYPE) => async () => ({ body: Buffer.from(await body), contentType });
  const check = async (reply: () => Promise<Reply> | Reply) => {
    now = T0;
    const as = fakeAs(reply);
    const r = await outcome(run(introspector(issuerConfig({ signed_response: true }), as.transport, jwks)));
    return { r, as };
  };
  it('INT-7 asks for application/token-introspection+jwt and accepts a good answer', async () => {
    const { r, as } = await check(signedReply(sign({ token_introspection: active() })));
    expect(r).toBe('ok');
    expect(as.calls[0]?.headers.accept).toBe(JWT_RESPONSE_TYPE);
  });
  it('INT-7 a signed inactive answer is 401 inactive', async () => {
    expect((await check(signedReply(sign({ token_introspection: { active: false } })))).r).toBe('401 GW_TOKEN_INACTIVE');
  });
  const bad: [string, () => Promise<string>][] = [
    ['wrong typ', () => sign({ token_introspection: active() }, { typ: 'JWT' })],
    ['wrong aud', () => sign({ token_introspection: active() }, { aud: 'someone-else' })],
    ['wrong iss', () => sign({ token_introspection: active() }, { iss: 'https://evil.test' })],
    ['no iat', () => sign({ token_introspection: active() }, { iat: false })],
    ['bad signature (another key)', () => sign({ token_introspection: active() }, { key: otherKey })],
    ['unknown crit', () => sign({ token_introspection: active() }, { crit: true })],
    ['token_introspection not an object', () => sign({ token_introspection: 'active' })],
    ['no token_introspection', () => sign({ active: true })],
    ['token_introspection.active not a boolean', () => sign({ token_introspection: { ...active(), active: 1 } })],
  ];
  for (const [name, body] of bad) {
    it(`INT-7 ${name} -> 503`, async () => {
      expect((await check(signedReply(body()))).r).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
    });
  }
  it('INT-7 an HS256 answer "signed" with the public JWK as secret -> 503', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const body = new SignJWT({ token_introspection: active() })
      .setProtectedHeader({ alg: 'HS256', kid: 'as-1', typ: 'token-introspection+jwt' })
      .setIssuer(ISSUER)
      .setAudience('gw')
      .setIssuedAt(nowS())
      .sign(secret);
    expect((await check(signedReply(body))).r).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
  it('INT-7 plain JSON when a signed answer is required -> 503', async () => {
    expect((await check(() => ({ json: active() }))).r).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
  it('INT-7 a JWT labelled application/json -> 503', async () => {
    expect((await check(signedReply(sign({ token_introspection: active() }), 'application/json'))).r).toBe('503 GW_INTROSPECTION_UNAVAILABLE');
  });
});
