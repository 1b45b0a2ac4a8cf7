// Response signing (SIG-8, SIG-9) over real TLS: the gateway signs what the upstream answers with its
// own key, bound to the request (`;req` components), and serves the public keys. Verified here with the
// independent `http-message-signatures` library and the keys fetched from the gateway's JWKS.
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign, constants, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpbis, type VerifyingKey } from 'http-message-signatures';
import { parseDictionary } from 'structured-headers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import type { TestResponse } from '../support/client.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const dir = mkdtempSync(join(tmpdir(), 'sig-resp-'));
const pem = (k: KeyObject): string => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const next = generateKeyPairSync('ed25519');
writeFileSync(join(dir, 'es.pem'), pem(es.privateKey));
writeFileSync(join(dir, 'ed.pem'), pem(next.privateKey));
const client = generateKeyPairSync('ed25519');

const BIG = Buffer.alloc(300_000, 'b');
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.resource_metadata = {};
      c.http_signatures = {
        clients: { 'tpp-1': { jwks: { keys: [{ ...client.publicKey.export({ format: 'jwk' }), kid: 'c1', alg: 'Ed25519' }] } } },
        response_signing: {
          keys: [
            { key_file: join(dir, 'es.pem'), kid: 'gw-1', alg: 'ES256' },
            { key_file: join(dir, 'ed.pem'), kid: 'gw-2', alg: 'EdDSA' },
          ],
          max_body_bytes: 400_000,
        },
      };
      const url = c.routes[0].upstream.url;
      c.routes.push(
        { id: 'signed-out', match: { methods: ['GET', 'HEAD', 'POST', 'DELETE'], path_prefix: '/out' }, auth: { issuers: ['main'], audience: 'https://api.test/out', binding: 'mtls' }, sign_responses: true, upstream: { url } },
        { id: 'slow', match: { methods: ['GET'], path_prefix: '/slow' }, auth: { issuers: ['main'], audience: 'https://api.test/out', binding: 'mtls' }, sign_responses: true, upstream: { url, timeout_ms: 300 } },
        { id: 'both', match: { methods: ['POST'], path_prefix: '/both' }, auth: { issuers: ['main'], audience: 'https://api.test/both', binding: 'mtls', signed_requests: true }, sign_responses: true, upstream: { url } },
      );
    },
  });
  // What the upstream answers depends on the path: the tests choose it.
  h.upstream.handler = (req, res, body) => {
    const path = req.url ?? '';
    if (path.includes('/big')) return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG.length) }).end(req.method === 'HEAD' ? undefined : BIG);
    if (path.includes('/too-big')) return void res.writeHead(200).end(Buffer.alloc(400_001));
    if (path.includes('/no-content')) return void res.writeHead(204).end();
    if (path.includes('/own-signature')) {
      return void res.writeHead(201, { 'content-digest': 'sha-256=:AAAA:', signature: 'up=:AAAA:', 'signature-input': 'up=("@status");created=1' }).end('{"own":true}');
    }
    if (path.includes('/stalls')) {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      return void setTimeout(() => res.end('x'.repeat(993)), 2000).unref();
    }
    if (path.includes('/dies')) {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      return void setTimeout(() => res.socket?.destroy(), 20);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path, method: req.method, bytes: body.length }));
  };
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const token = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), client_id: 'tpp-1', aud: 'https://api.test/out', ...extra });
const call = async (method: string, path: string, body?: string, headers: [string, string][] = []) =>
  h.call(path, { method, cert: h.pki.client1, headers: [['Authorization', `Bearer ${await token()}`], ...headers], ...(body !== undefined && { body }) });

/** The gateway's published keys, as the client would fetch them (SIG-9). */
async function publishedKeys(): Promise<Map<string, { key: KeyObject; alg: string }>> {
  const r = await h.call('/.well-known/fapi-gateway/jwks.json');
  expect(r.status).toBe(200);
  const keys = new Map<string, { key: KeyObject; alg: string }>();
  for (const jwk of (r.json() as { keys: (JsonWebKey & { kid: string; alg: string })[] }).keys) keys.set(jwk.kid, { key: createPublicKey({ key: jwk, format: 'jwk' }), alg: jwk.alg });
  return keys;
}

/** Verifies the response's fapi-2-response signature with the library, as a client would. */
async function verifyResponse(r: TestResponse, request: { method: string; path: string; headers?: Record<string, string> }): Promise<boolean | null> {
  const keys = await publishedKeys();
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = v as string | string[];
  return httpbis.verifyMessage(
    {
      keyLookup: async (params): Promise<VerifyingKey | null> => {
        const k = keys.get(String(params.keyid));
        if (k === undefined) return null;
        return {
          id: String(params.keyid),
          verify: async (data, signature) =>
            k.alg === 'ES256' ? cryptoVerify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, signature) : cryptoVerify(null, data, k.key, signature),
        };
      },
      // The library compares names only (`@method` matches `"@method";req`); the inputs are checked below.
      requiredFields: ['@status', '@method', '@target-uri'],
      requiredParams: ['created', 'keyid', 'tag'],
    },
    { status: r.status, headers },
    { method: request.method, url: `${PUBLIC_ORIGIN}${request.path}`, headers: request.headers ?? {} },
  );
}

const inputOf = (r: TestResponse): string => String(r.headers['signature-input']);
const sha256 = (b: Buffer | string): string => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;

describe('SIG-8: the upstream response, signed by the gateway', () => {
  it('SIG-8 a GET: @status, content-digest, @method;req and @target-uri;req covered, tag fapi-2-response, keyid of the first key; the client verifies it', async () => {
    const r = await call('GET', '/out/1?b=2&a=1');
    expect(r.status).toBe(200);
    expect(r.body).toContain('"/out/1?b=2&a=1"');
    expect(r.headers['content-digest']).toBe(sha256(r.body));
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
    expect(inputOf(r)).toMatch(/^fapi-gw=\("@status" "content-digest" "@method";req "@target-uri";req\);created=\d+;keyid="gw-1";tag="fapi-2-response"$/);
    const created = Number(/created=(\d+)/.exec(inputOf(r))?.[1]);
    expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(5);
    expect(await verifyResponse(r, { method: 'GET', path: '/out/1?b=2&a=1' })).toBe(true);
    // Bound to the request: the same response does not verify for another target or method.
    expect(await verifyResponse(r, { method: 'GET', path: '/out/1?a=1&b=2' })).toBe(false);
    expect(await verifyResponse(r, { method: 'POST', path: '/out/1?b=2&a=1' })).toBe(false);
  });

  it('SIG-8 a POST with a Content-Digest: content-digest;req is covered too', async () => {
    const body = '{"amount":"1.00"}';
    const digest = sha256(body);
    const r = await call('POST', '/out/pay', body, [['Content-Digest', digest]]);
    expect(r.status).toBe(200);
    expect(inputOf(r)).toContain('"content-digest";req');
    expect(await verifyResponse(r, { method: 'POST', path: '/out/pay', headers: { 'content-digest': digest } })).toBe(true);
    expect(await verifyResponse(r, { method: 'POST', path: '/out/pay', headers: { 'content-digest': sha256('other') } })).toBe(false);
  });

  it('SIG-8 a signed request: its signature is covered ("signature";key="<label>";req), binding the answer to that exact request', async () => {
    const body = Buffer.from('{"amount":"2.00"}');
    const headers: Record<string, string> = { authorization: `Bearer ${await token({ aud: 'https://api.test/both' })}`, 'content-digest': sha256(body) };
    const signed = await httpbis.signMessage(
      {
        key: { id: 'c1', sign: async (d: Buffer) => cryptoSign(null, d, client.privateKey) },
        fields: ['@method', '@target-uri', 'authorization', 'content-digest'],
        params: ['created', 'keyid', 'tag'],
        paramValues: { tag: 'fapi-2-request' },
        name: 'req1',
      },
      { method: 'POST', url: `${PUBLIC_ORIGIN}/both/x`, headers },
    );
    const sent = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const r = await h.call('/both/x', { method: 'POST', cert: h.pki.client1, headers: Object.entries(sent), body });
    expect(r.status).toBe(200);
    expect(inputOf(r)).toContain('"content-digest";req "signature";key="req1";req');
    expect(await verifyResponse(r, { method: 'POST', path: '/both/x', headers: sent })).toBe(true);
    // Another request signature (same everything else) does not verify: the answer is tied to this one.
    const other = parseDictionary(sent.signature as string).get('req1')?.[0] as ArrayBuffer;
    const flipped = Buffer.from(other);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(await verifyResponse(r, { method: 'POST', path: '/both/x', headers: { ...sent, signature: `req1=:${flipped.toString('base64')}:` } })).toBe(false);
  });

  it('SIG-8 a body of 300 KB is digested and signed whole, byte for byte', async () => {
    const r = await call('GET', '/out/big');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(BIG.length);
    expect(r.headers['content-digest']).toBe(sha256(BIG));
    expect(await verifyResponse(r, { method: 'GET', path: '/out/big' })).toBe(true);
  });

  it('SIG-8 HEAD and 204: no content, no content-digest; a HEAD keeps the GET body length; both verify', async () => {
    const head = await call('HEAD', '/out/big');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(BIG.length));
    expect(head.headers['content-digest']).toBeUndefined();
    expect(inputOf(head)).toMatch(/^fapi-gw=\("@status" "@method";req "@target-uri";req\)/);
    expect(await verifyResponse(head, { method: 'HEAD', path: '/out/big' })).toBe(true);
    const empty = await call('DELETE', '/out/no-content');
    expect(empty.status).toBe(204);
    expect(empty.headers['content-length']).toBeUndefined();
    expect(empty.headers['content-digest']).toBeUndefined();
    expect(await verifyResponse(empty, { method: 'DELETE', path: '/out/no-content' })).toBe(true);
  });

  it("SIG-8 the upstream's own Content-Digest, Signature and Signature-Input are replaced by the gateway's", async () => {
    const r = await call('GET', '/out/own-signature');
    expect(r.status).toBe(201);
    expect(r.headers['content-digest']).toBe(sha256('{"own":true}'));
    expect(inputOf(r)).toMatch(/^fapi-gw=/);
    expect(String(r.headers.signature)).toMatch(/^fapi-gw=:[A-Za-z0-9+/]+=*:$/);
    expect(await verifyResponse(r, { method: 'GET', path: '/out/own-signature' })).toBe(true);
  });

  it('SIG-8 a response over response_signing.max_body_bytes is a 502, logged with the limit; never sent unsigned', async () => {
    const r = await call('GET', '/out/too-big');
    expect(r.status).toBe(502);
    expect(r.headers.signature).toBeUndefined();
    const line = await logFor(h, String(r.headers['x-fapi-interaction-id']));
    expect(line?.reason).toBe('GW_UPSTREAM_UNAVAILABLE');
    expect(line?.detail).toContain('max_body_bytes 400000');
  });

  it('SIG-8 an upstream that dies mid-body: 502 (nothing was sent yet), not a cut connection', async () => {
    const r = await call('GET', '/out/dies');
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ error: 'bad_gateway' });
    const line = await logFor(h, String(r.headers['x-fapi-interaction-id']));
    expect(line?.reason).toBe('GW_UPSTREAM_UNAVAILABLE');
  });

  it('SIG-8 an upstream body that stalls past timeout_ms while it is buffered: 504, nothing sent before', async () => {
    const started = Date.now();
    const r = await call('GET', '/slow/stalls');
    expect(r.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
    const line = await logFor(h, String(r.headers['x-fapi-interaction-id']));
    expect(line?.reason).toBe('GW_UPSTREAM_TIMEOUT');
  });

  it("the gateway's own refusals and routes without sign_responses carry no signature", async () => {
    const refused = await h.call('/out/1', { cert: h.pki.client1 });
    expect(refused.status).toBe(401);
    expect(refused.headers.signature).toBeUndefined();
    const plain = await h.call('/mtls/own-signature', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await token({ aud: 'https://api.test' })}`]] });
    expect(plain.status).toBe(201);
    // Passed through as the upstream sent them.
    expect(plain.headers.signature).toBe('up=:AAAA:');
    expect(plain.headers['content-digest']).toBe('sha-256=:AAAA:');
  });
});

describe('SIG-9: the keys, published', () => {
  it('SIG-9 jwks_path serves every configured key, public only, with kid, alg and use (the first signs; the next is published for rotation)', async () => {
    const r = await h.call('/.well-known/fapi-gateway/jwks.json');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/jwk-set+json');
    expect(r.headers['cache-control']).toBe('max-age=300');
    const { keys } = r.json() as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => [k.kid, k.alg, k.use, k.kty])).toEqual([
      ['gw-1', 'ES256', 'sig', 'EC'],
      ['gw-2', 'EdDSA', 'sig', 'OKP'],
    ]);
    for (const k of keys) expect(k.d).toBeUndefined();
    const head = await h.call('/.well-known/fapi-gateway/jwks.json', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('SIG-9 the RFC 9728 metadata of a resource with signing routes names jwks_uri and the algorithms; others do not', async () => {
    const signedDoc = (await h.call('/.well-known/oauth-protected-resource/out')).json() as Record<string, unknown>;
    expect(signedDoc.jwks_uri).toBe('https://api.test/.well-known/fapi-gateway/jwks.json');
    expect(signedDoc.resource_signing_alg_values_supported).toEqual(['ES256', 'EdDSA']);
    const plainDoc = (await h.call('/.well-known/oauth-protected-resource')).json() as Record<string, unknown>;
    expect(plainDoc.resource).toBe('https://api.test');
    expect(plainDoc.jwks_uri).toBeUndefined();
  });

  it('SIG-8 a reload that puts the next key first signs with it; both stay published', async () => {
    h.reload((c) => {
      const s = c.http_signatures as { response_signing: { keys: unknown[] } };
      s.response_signing.keys.reverse();
    });
    const r = await call('GET', '/out/rotated');
    expect(inputOf(r)).toContain('keyid="gw-2"');
    expect(await verifyResponse(r, { method: 'GET', path: '/out/rotated' })).toBe(true);
    h.reload();
    expect(inputOf(await call('GET', '/out/back'))).toContain('keyid="gw-1"');
  });
});

describe('config', () => {
  const text = (signing: unknown, sign = true) =>
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'a', key_file: 'b' } },
      issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
      ...(signing !== undefined && { http_signatures: { response_signing: signing } }),
      routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/x' }, auth: { issuers: ['main'], audience: 'https://api.test' }, sign_responses: sign, upstream: { url: 'http://127.0.0.1:1' } }],
    });
  const issues = (t: string): string => {
    try {
      parseConfig(t, 'test.yaml', {});
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).message;
    }
    throw new Error('accepted');
  };
  it('sign_responses needs response_signing; kids unique; jwks_path plain', () => {
    expect(issues(text(undefined))).toMatch(/routes\[0\]\.sign_responses \(line \d+\): sign_responses needs http_signatures\.response_signing/);
    const key = { key_file: join(dir, 'es.pem'), kid: 'k', alg: 'ES256' };
    expect(issues(text({ keys: [key, key] }))).toMatch(/kids must be unique/);
    for (const bad of ['/a/../b', '/a%2Fb', 'relative', '/a//b']) expect(issues(text({ keys: [key], jwks_path: bad })), bad).toMatch(/jwks_path/);
  });
  it('a key file that is not a private key of its alg stops the gateway from starting, naming the key', async () => {
    const wrongAlg = { keys: [{ key_file: join(dir, 'ed.pem'), kid: 'k', alg: 'ES256' }] };
    const start = (signing: unknown) => startHarness({ issuer: h.issuer, upstream: h.upstream, patch: (c) => (c.http_signatures = { response_signing: signing }) }).then((g) => g.close());
    await expect(start(wrongAlg)).rejects.toThrow(/response_signing\.keys\[0\]\.key_file: alg ES256 needs kty EC and crv P-256/);
    writeFileSync(join(dir, 'public.pem'), es.publicKey.export({ format: 'pem', type: 'spki' }) as string);
    await expect(start({ keys: [{ key_file: join(dir, 'public.pem'), kid: 'k', alg: 'ES256' }] })).rejects.toThrow(/public\.pem: not a PEM private key/);
    await expect(start({ keys: [{ key_file: join(dir, 'missing.pem'), kid: 'k', alg: 'ES256' }] })).rejects.toThrow(/missing\.pem: cannot read \(ENOENT\)/);
  });
});

// PS256 response keys: RSA-PSS with SHA-256 and a 32-byte salt, verified here with node:crypto.
describe('SIG-8 PS256', () => {
  it('SIG-8 a PS256 response key signs RSA-PSS SHA-256 (salt 32) over the same base', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'rsa.pem'), pem(rsa.privateKey));
    const g = await startHarness({
      issuer: h.issuer,
      upstream: h.upstream,
      patch: (c) => {
        c.http_signatures = { response_signing: { keys: [{ key_file: join(dir, 'rsa.pem'), kid: 'rsa', alg: 'PS256' }] } };
        c.routes.push({ id: 'ps', match: { methods: ['GET'], path_prefix: '/ps' }, auth: { issuers: ['main'], audience: 'https://api.test/out', binding: 'mtls' }, sign_responses: true, upstream: { url: c.routes[0].upstream.url } });
      },
    });
    try {
      const r = await g.call('/ps/1', { cert: g.pki.client1, headers: [['Authorization', `Bearer ${await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256), aud: 'https://api.test/out' })}`]] });
      expect(r.status).toBe(200);
      const keys = (await g.call('/.well-known/fapi-gateway/jwks.json')).json() as { keys: JsonWebKey[] };
      const pub = createPublicKey({ key: keys.keys[0] as JsonWebKey, format: 'jwk' });
      const verified = await httpbis.verifyMessage(
        {
          keyLookup: async () => ({
            id: 'rsa',
            verify: async (data, signature) => cryptoVerify('sha256', data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature),
          }),
        },
        { status: r.status, headers: r.headers as Record<string, string> },
        { method: 'GET', url: `${PUBLIC_ORIGIN}/ps/1`, headers: {} },
      );
      expect(verified).toBe(true);
    } finally {
      await g.close();
    }
  });
});
