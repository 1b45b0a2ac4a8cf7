// SIG-8: for every response-signing alg (PS256, ES256, EdDSA, Ed25519) the response signature verifies
// with an implementation independent of the gateway's: the signature base from the
// `http-message-signatures` library, the key from the published JWKS imported with WebCrypto
// (crypto.subtle), and WebCrypto's verify (RSA-PSS SHA-256 salt 32; ECDSA P-256 raw r||s; Ed25519).
// Also: the JWKS holds no private member, and odd bodies (gzip content coding, chunked upstream, empty
// 200, 304, HEAD, 205) are digested over the bytes the client receives.
import { createHash, webcrypto } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { request as httpsRequest } from 'node:https';
import { httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, type Harness } from '../support/gateway.js';
import { keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

const subtle = webcrypto.subtle;
const GZ = gzipSync(Buffer.from('{"hello":"world"}'));

type Jwk = webcrypto.JsonWebKey & { kid: string; alg: string };
const importParams = (alg: string): [webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm, webcrypto.RsaPssParams | webcrypto.EcdsaParams | webcrypto.Algorithm] => {
  if (alg === 'PS256') return [{ name: 'RSA-PSS', hash: 'SHA-256' }, { name: 'RSA-PSS', saltLength: 32 }];
  if (alg === 'ES256') return [{ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }];
  return [{ name: 'Ed25519' }, { name: 'Ed25519' }];
};

/** Raw response bytes as received (a body Node's client would not decode either way). */
function fetchRaw(h: Harness, method: string, path: string, token: string): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(h.url(path), { method, headers: { authorization: `Bearer ${token}` }, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string | string[]>, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function verifyIndependently(h: Harness, r: { status: number; headers: Record<string, string | string[]> }, method: string, path: string): Promise<boolean | null> {
  const jwks = (await h.call('/.well-known/fapi-gateway/jwks.json')).json() as { keys: Jwk[] };
  for (const k of jwks.keys) for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k, `JWKS member ${m}`).not.toHaveProperty(m);
  return httpbis.verifyMessage(
    {
      keyLookup: async (params) => {
        const jwk = jwks.keys.find((k) => k.kid === params.keyid);
        if (jwk === undefined) return null;
        const [imp, ver] = importParams(jwk.alg);
        const { kid: _kid, alg: _alg, use: _use, ...material } = jwk as Jwk & { use?: string };
        const key = await subtle.importKey('jwk', material, imp, false, ['verify']);
        return { id: jwk.kid, verify: async (data: Buffer, sig: Buffer) => subtle.verify(ver, key, sig, data) };
      },
      requiredFields: ['@status', '@method', '@target-uri'],
      requiredParams: ['created', 'keyid', 'tag'],
    },
    { status: r.status, headers: r.headers },
    { method, url: `${PUBLIC_ORIGIN}${path}`, headers: {} },
  );
}

const sha = (b: Buffer): string => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;

for (const [alg, type] of [['PS256', 'rsa'], ['ES256', 'ec'], ['EdDSA', 'ed25519'], ['Ed25519', 'ed25519']] as const) {
  describe(`${alg}: verified with WebCrypto and the library's base`, () => {
    let h: Harness;
    let key: SigningKeyFile;
    beforeAll(async () => {
      key = keyFile(type);
      h = await signingHarness([{ id: 'out', match: { methods: ['GET', 'HEAD'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key, { alg });
      h.upstream.handler = (req, res) => {
        const p = req.url ?? '';
        if (p.includes('/gzip')) return void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(GZ.length) }).end(req.method === 'HEAD' ? undefined : GZ);
        if (p.includes('/chunked')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a');
          return void setTimeout(() => res.end('bc'), 10);
        }
        if (p.includes('/empty')) return void res.writeHead(200, { 'content-length': '0' }).end();
        if (p.includes('/not-modified')) return void res.writeHead(304, { etag: '"x"' }).end();
        if (p.includes('/reset')) return void res.writeHead(205, { 'content-length': '0' }).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
    });
    afterAll(async () => {
      await h?.close();
      key.cleanup();
    });
    it('every response shape verifies, its Content-Digest over the bytes received', async () => {
      const token = await mtlsToken(h);
      for (const [method, path] of [['GET', '/out/1?b=2&a=1'], ['GET', '/out/gzip'], ['HEAD', '/out/gzip'], ['GET', '/out/chunked'], ['GET', '/out/empty'], ['GET', '/out/not-modified'], ['GET', '/out/reset']] as const) {
        const r = await fetchRaw(h, method, path, token);
        expect(r.headers['x-fapi-interaction-id'], path).toBeDefined();
        if (r.status !== 304 && method !== 'HEAD') expect(r.headers['content-digest'], `${method} ${path}`).toBe(sha(r.body));
        else expect(r.headers['content-digest'], `${method} ${path}`).toBeUndefined();
        expect(await verifyIndependently(h, r, method, path), `${alg} ${method} ${path} ${r.status}`).toBe(true);
      }
    });
  });
}
