// HTTP message signatures on requests (SIG-2..SIG-7, E8) over real TLS, end to end: real client keys
// (PS256, ES256, Ed25519), mTLS- and DPoP-bound tokens from the real test issuer, a recording upstream.
// The signer is independent of the gateway: the `http-message-signatures` library builds the signature
// base and the Signature / Signature-Input fields; Content-Digest (RFC 9530) is computed here.
import { constants, createHash, generateKeyPairSync, randomBytes, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { httpbis, type SigningKey } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges, expectErrorContract } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import type { Pem } from '../support/pki.js';
import type { ReceivedRequest } from '../support/upstream.js';

type Hdrs = [string, string][];
type SigAlg = 'PS256' | 'ES256' | 'EdDSA' | 'Ed25519';

// ---------------------------------------------------------------------------------------------------
// Client signing keys and the signer
// ---------------------------------------------------------------------------------------------------

interface ClientKey {
  readonly kid: string;
  readonly alg: SigAlg;
  readonly privateKey: KeyObject;
  /** The public JWK as configured: kid and alg set, no `d`. */
  readonly jwk: Record<string, unknown>;
}

function clientKey(alg: SigAlg, kid: string): ClientKey {
  const pair =
    alg === 'PS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg } };
}

/** The RFC 9421 `alg` name of each JWS algorithm (PS256 has none: RFC 9421's rsa-pss is SHA-512). */
const RFC9421_ALG: Record<SigAlg, string | undefined> = { PS256: undefined, ES256: 'ecdsa-p256-sha256', EdDSA: 'ed25519', Ed25519: 'ed25519' };

/** The raw signature: PS256 with a 32-byte salt, ES256 as r||s (RFC 9421 §3.3.4), Ed25519 pure. */
function rawSignature(alg: SigAlg, key: KeyObject, data: Buffer, derEcdsa = false): Buffer {
  if (alg === 'PS256') return cryptoSign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  if (alg === 'ES256') return cryptoSign('sha256', data, { key, dsaEncoding: derEcdsa ? 'der' : 'ieee-p1363' });
  return cryptoSign(null, data, key);
}

const sha = (alg: 'sha256' | 'sha512', body: Buffer): string => createHash(alg).update(body).digest('base64');
/** RFC 9530 Content-Digest. */
const contentDigest = (body: Buffer, alg: 'sha-256' | 'sha-512' = 'sha-256'): string => `${alg}=:${sha(alg === 'sha-256' ? 'sha256' : 'sha512', body)}:`;

/** A request as the test will send it. */
interface Req {
  readonly method: string;
  /** The request target exactly as sent (path and query). */
  readonly path: string;
  readonly headers: Hdrs;
  readonly body?: Buffer;
  readonly cert?: Pem;
}

interface Signed extends Req {
  /** The base64 signature bytes (what must never be logged). */
  readonly sigValue: string;
  readonly signatureField: string;
  readonly inputField: string;
}

interface SignOpts {
  /** Covered components; default @method @target-uri authorization (+ dpop, content-digest when sent). */
  readonly fields?: readonly string[];
  /** Seconds since the epoch; null omits `created`. */
  readonly created?: number | null;
  readonly expires?: number;
  /** Default the key's kid; null omits it. */
  readonly keyid?: string | null;
  /** Default the key's RFC 9421 name (none for PS256); null omits it. */
  readonly alg?: string | null;
  /** Default fapi-2-request; null omits it. */
  readonly tag?: string | null;
  readonly label?: string;
  /** What the signer takes @target-uri to be; default the public origin + the target as sent. */
  readonly targetUri?: string;
  /** Sign with another private key (same kid): a bad signature. */
  readonly signWith?: KeyObject;
  readonly derEcdsa?: boolean;
}

const now = (): number => Math.floor(Date.now() / 1000);
const has = (headers: Hdrs, name: string): boolean => headers.some(([n]) => n.toLowerCase() === name);
const without = (headers: Hdrs, name: string): Hdrs => headers.filter(([n]) => n.toLowerCase() !== name);
const targetUriOf = (path: string): string => `${PUBLIC_ORIGIN}${path}`;

/** The message as the library wants it: field values by lower-case name, repeated lines as arrays. */
function libMessage(req: Req, url: string): { method: string; url: string; headers: Record<string, string | string[]> } {
  const headers: Record<string, string | string[]> = {};
  for (const [n, v] of req.headers) {
    const k = n.toLowerCase();
    const cur = headers[k];
    headers[k] = cur === undefined ? v : [...(Array.isArray(cur) ? cur : [cur]), v];
  }
  return { method: req.method, url, headers };
}

function defaultFields(req: Req): string[] {
  return ['@method', '@target-uri', 'authorization', ...(has(req.headers, 'dpop') ? ['dpop'] : []), ...(has(req.headers, 'content-digest') ? ['content-digest'] : [])];
}

const signatures = new Set<string>();

function signingKey(k: ClientKey, o: SignOpts): SigningKey {
  return { sign: async (data: Buffer) => rawSignature(k.alg, o.signWith ?? k.privateKey, data, o.derEcdsa) };
}

/** Sign `req` with the library (httpbis.signMessage); the Signature fields are appended to its headers. */
async function sign(req: Req, k: ClientKey, o: SignOpts = {}): Promise<Signed> {
  const label = o.label ?? 'sig1';
  const values: Record<string, unknown> = {
    created: o.created === null ? null : new Date((o.created ?? now()) * 1000),
    ...(o.expires !== undefined && { expires: new Date(o.expires * 1000) }),
    keyid: o.keyid === null ? undefined : (o.keyid ?? k.kid),
    alg: o.alg === null ? undefined : (o.alg ?? RFC9421_ALG[k.alg]),
    tag: o.tag === null ? undefined : (o.tag ?? 'fapi-2-request'),
  };
  const params = ['created', ...(o.expires !== undefined ? ['expires'] : []), 'keyid', 'alg', 'tag'];
  const out = await httpbis.signMessage(
    { key: signingKey(k, o), name: label, fields: [...(o.fields ?? defaultFields(req))], params, paramValues: values as never },
    libMessage(req, o.targetUri ?? targetUriOf(req.path)),
  );
  const signatureField = out.headers['Signature'] as string;
  const inputField = out.headers['Signature-Input'] as string;
  const sigValue = /=:([^:]+):$/.exec(signatureField)?.[1] as string;
  signatures.add(sigValue);
  return { ...req, headers: [...req.headers, ['Signature-Input', inputField], ['Signature', signatureField]], sigValue, signatureField, inputField };
}

/**
 * Sign with a hand-written inner list (parameters the library cannot produce, e.g. a decimal `created`):
 * the library still derives the component values and formats the base.
 */
async function signRaw(req: Req, k: ClientKey, fields: readonly string[], paramsSuffix: string, label = 'sig1'): Promise<Signed> {
  const inner = `(${fields.map((f) => `"${f}"`).join(' ')})${paramsSuffix}`;
  const components = httpbis.createSignatureBase({ fields: [...fields] }, libMessage(req, targetUriOf(req.path)));
  const base = httpbis.formatSignatureBase([...components, ['"@signature-params"', [inner]]]);
  const sigValue = rawSignature(k.alg, k.privateKey, Buffer.from(base)).toString('base64');
  signatures.add(sigValue);
  const inputField = `${label}=${inner}`;
  const signatureField = `${label}=:${sigValue}:`;
  return { ...req, headers: [...req.headers, ['Signature-Input', inputField], ['Signature', signatureField]], sigValue, signatureField, inputField };
}

// ---------------------------------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------------------------------

let h: Harness;
let dk: DpopKey;
let ps: ClientKey;
let es: ClientKey;
let ed: ClientKey;
let eddsa: ClientKey;
let otherClientKey: ClientKey;
let fileKey: ClientKey;
let jwksDir: string;
const SMALL_LIMIT = 1024;

beforeAll(async () => {
  ps = clientKey('PS256', 'c1-ps256');
  es = clientKey('ES256', 'c1-es256');
  ed = clientKey('Ed25519', 'c1-ed25519');
  eddsa = clientKey('EdDSA', 'c1-eddsa');
  otherClientKey = clientKey('ES256', 'c2-es256');
  fileKey = clientKey('ES256', 'file-es256');
  dk = await dpopKey();
  // jwks_file is resolved like other *_file keys: against the config's directory (the working directory
  // for an inline config), so give it as a relative path.
  jwksDir = mkdtempSync(join(tmpdir(), 'fapi-sig-jwks-'));
  const jwksFile = join(jwksDir, 'client-file.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [fileKey.jwk] }));
  h = await startHarness({
    routes: [
      { id: 'signed', match: { methods: ['GET', 'POST', 'PUT'], path_prefix: '/signed' }, auth: { binding: 'any', signed_requests: true } },
      { id: 'signed-small', match: { methods: ['POST'], path: '/small' }, auth: { binding: 'any', signed_requests: true }, upstream: { max_body_bytes: SMALL_LIMIT } },
      { id: 'signed-scoped', match: { methods: ['GET'], path_prefix: '/scoped' }, auth: { binding: 'any', signed_requests: true, scopes: { all_of: ['payments'] } } },
      { id: 'signed-step-up', match: { methods: ['GET'], path_prefix: '/step-up' }, auth: { binding: 'any', signed_requests: true, step_up: { acr_values: ['urn:test:high'] } } },
      { id: 'plain', match: { methods: ['GET', 'POST'], path_prefix: '/plain' }, auth: { binding: 'any' } },
      // A second host name with its own origin, written with the default port (as route-public-origin.test.ts does).
      { id: 'signed-second-host', match: { methods: ['GET'], path_prefix: '/second', host: 'api2.test' }, public_origin: 'https://api2.test:443', auth: { binding: 'any', signed_requests: true } },
    ],
    patch: (c) => {
      // max_age_s left to its default (60).
      c.http_signatures = {
        clients: {
          'client-1': { jwks: { keys: [ps.jwk, es.jwk, ed.jwk, eddsa.jwk] } },
          'client-2': { jwks: { keys: [otherClientKey.jwk] } },
          'client-file': { jwks_file: relative(process.cwd(), jwksFile) },
        },
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
  if (jwksDir !== undefined) rmSync(jwksDir, { recursive: true, force: true });
});

const BEARER_BARE = 'Bearer realm="api.test"';
const DPOP_BARE = 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"';

const mtlsToken = (claims: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims });

/** Headers a body brings: a content type and, unless told otherwise, its sha-256 Content-Digest. */
const bodyHeaders = (body: Buffer | undefined, digest: string | false | undefined): Hdrs =>
  body === undefined || body.length === 0 ? [] : [['Content-Type', 'application/octet-stream'], ...(digest === false ? [] : ([['Content-Digest', digest ?? contentDigest(body)]] as Hdrs))];

interface ReqOpts {
  readonly method?: string;
  readonly body?: Buffer;
  /** A Content-Digest value, or false for none; default the body's sha-256. */
  readonly digest?: string | false;
  readonly token?: string;
  readonly claims?: Record<string, unknown>;
  readonly extra?: Hdrs;
}

/** An mTLS-bound Bearer request with the client1 certificate. */
async function mtlsReq(path: string, o: ReqOpts = {}): Promise<Req> {
  const token = o.token ?? (await mtlsToken(o.claims));
  return {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    path,
    cert: h.pki.client1,
    headers: [['Authorization', `Bearer ${token}`], ...bodyHeaders(o.body, o.digest), ...(o.extra ?? [])],
    ...(o.body !== undefined && { body: o.body }),
  };
}

/** A DPoP-bound request (no client certificate) with a fresh proof, or the one given. */
async function dpopReq(path: string, o: ReqOpts & { proof?: string; key?: DpopKey } = {}): Promise<Req & { proof: string }> {
  const key = o.key ?? dk;
  const method = o.method ?? (o.body === undefined ? 'GET' : 'POST');
  const token = o.token ?? (await h.issuer.mint({ cnf: cnfJkt(key.jkt), ...o.claims }));
  const q = path.indexOf('?');
  const p = o.proof ?? (await proof(key, { htm: method, htu: `${PUBLIC_ORIGIN}${q === -1 ? path : path.slice(0, q)}`, token }));
  return {
    method,
    path,
    proof: p,
    headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], ...bodyHeaders(o.body, o.digest), ...(o.extra ?? [])],
    ...(o.body !== undefined && { body: o.body }),
  };
}

function send(req: Req, iid: string = randomUUID()): Promise<TestResponse> {
  return h.call(req.path, { method: req.method, headers: [...req.headers, ['x-fapi-interaction-id', iid]], ...(req.cert !== undefined && { cert: req.cert }), ...(req.body !== undefined && { body: req.body }) });
}

/** The same request with Transfer-Encoding: chunked, the body written in `piece`-byte writes. */
function sendChunked(req: Req, iid: string = randomUUID(), piece = 16 * 1024): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const raw: string[] = ['Host', `127.0.0.1:${h.port}`];
    for (const [n, v] of [...req.headers, ['x-fapi-interaction-id', iid], ['Transfer-Encoding', 'chunked']] as Hdrs) raw.push(n, v);
    let answered = false;
    const r = httpsRequest(h.url(req.path), {
      method: req.method,
      headers: raw,
      ca: h.pki.ca.certPem,
      servername: 'localhost',
      agent: false,
      ...(req.cert !== undefined && { cert: req.cert.certPem, key: req.cert.keyPem }),
    });
    r.setTimeout(5000, () => r.destroy(new Error('chunked request timed out')));
    r.on('error', (e) => {
      if (!answered) reject(e);
    });
    r.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    const body = req.body ?? Buffer.alloc(0);
    for (let i = 0; i < body.length; i += piece) r.write(body.subarray(i, i + piece));
    r.end();
  });
}

type SigCode = 'GW_HTTP_SIG_MISSING' | 'GW_HTTP_SIG_INVALID';

/**
 * E8: 401 invalid_request on the challenge of the scheme used (the other one bare), the JSON error body,
 * nothing forwarded, and one log line with the reason and a detail naming the SIG requirement, without
 * the signature value.
 */
async function expectSigRefusal(req: Req, code: SigCode, sigId: RegExp, route = 'signed'): Promise<TestResponse> {
  const iid = randomUUID();
  const before = h.upstream.received.length;
  const r = await send(req, iid);
  expectErrorContract(r, 401, 'invalid_request');
  const scheme = req.headers.find(([n]) => n.toLowerCase() === 'authorization')?.[1].split(' ')[0];
  if (scheme === 'DPoP') expect(challenges(r)).toEqual([BEARER_BARE, expect.stringMatching(/^DPoP realm="api\.test", error="invalid_request"(, error_description="[^"]*")?, algs="PS256 ES256 EdDSA Ed25519"$/)]);
  else expect(challenges(r)).toEqual([expect.stringMatching(/^Bearer realm="api\.test", error="invalid_request"(, error_description="[^"]*")?$/), DPOP_BARE]);
  expect(h.upstream.received.length).toBe(before);
  const line = await logFor(h, iid);
  expect(line).toMatchObject({ reason: code, status: 401, decision: 'deny', route });
  expect(String(line?.detail)).toMatch(sigId);
  const sent = req.headers.find(([n]) => n.toLowerCase() === 'signature')?.[1];
  const value = sent === undefined ? undefined : /:([^:]+):/.exec(sent)?.[1];
  if (value !== undefined) expect(JSON.stringify(line)).not.toContain(value);
  // E8, RFC 9421 §5.1: what this request must cover.
  const has = (n: string): boolean => req.headers.some(([x]) => x.toLowerCase() === n);
  const body = req.body !== undefined && req.body.length > 0;
  expect(r.headers['accept-signature']).toBe(
    `sig1=("@method" "@target-uri" "authorization"${has('dpop') ? ' "dpop"' : ''}${body ? ' "content-digest"' : ''});tag="fapi-2-request"`,
  );
  return r;
}

/** Accepted and forwarded: 200 from the upstream, which got what the test says it got. */
async function expectForwarded(req: Req): Promise<ReceivedRequest> {
  const before = h.upstream.received.length;
  const iid = randomUUID();
  const r = await send(req, iid);
  expect(r.status, `${r.status} ${r.body} ${JSON.stringify((await logFor(h, iid))?.detail)}`).toBe(200);
  expect(h.upstream.received.length).toBe(before + 1);
  return h.upstream.received.at(-1)!;
}

// ---------------------------------------------------------------------------------------------------

describe('accepted: valid signatures are forwarded (SIG-2, SIG-3, SIG-4, HDR-11)', () => {
  it('SIG-2 an mTLS-bound GET signed with each key type (PS256, ES256, Ed25519, EdDSA) -> 200', async () => {
    for (const k of [ps, es, ed, eddsa]) {
      const up = await expectForwarded(await sign(await mtlsReq('/signed/accounts/1'), k));
      expect(up.url, k.alg).toBe('/signed/accounts/1');
    }
  });
  it('SIG-2 / SIG-5 a DPoP-bound GET signed with each key type, covering the DPoP proof -> 200', async () => {
    for (const k of [ps, es, ed]) await expectForwarded(await sign(await dpopReq('/signed/accounts/2'), k));
  });
  it('HDR-11: the upstream gets Signature, Signature-Input and Content-Digest as sent, Authorization and DPoP stripped, the body byte for byte', async () => {
    const body = randomBytes(4096);
    const signed = await sign(await dpopReq('/signed/payments', { body }), es);
    const up = await expectForwarded(signed);
    expect(up.method).toBe('POST');
    expect(up.body.equals(body)).toBe(true);
    expect(up.headers.signature).toBe(signed.signatureField);
    expect(up.headers['signature-input']).toBe(signed.inputField);
    expect(up.headers['content-digest']).toBe(contentDigest(body));
    expect(up.headers.authorization).toBeUndefined();
    expect(up.headers.dpop).toBeUndefined();
    expect(up.headers['x-authenticated-binding']).toBe('dpop');
  });
  it('SIG-2 the alg parameter, when present, may name the key\'s algorithm (ecdsa-p256-sha256, ed25519); PS256 signs without it', async () => {
    expect(RFC9421_ALG.PS256).toBeUndefined();
    const psSigned = await sign(await mtlsReq('/signed/alg'), ps);
    expect(psSigned.inputField).not.toContain('alg=');
    await expectForwarded(psSigned);
    const esSigned = await sign(await mtlsReq('/signed/alg'), es);
    expect(esSigned.inputField).toContain('alg="ecdsa-p256-sha256"');
    await expectForwarded(esSigned);
    await expectForwarded(await sign(await mtlsReq('/signed/alg'), ed, { alg: 'ed25519' }));
    await expectForwarded(await sign(await mtlsReq('/signed/alg'), eddsa, { alg: 'ed25519' }));
    // ... or be left out: the algorithm comes from the JWK.
    await expectForwarded(await sign(await mtlsReq('/signed/alg'), es, { alg: null }));
  });
  it('SIG-2 the token\'s client_id selects the key set: another client\'s own key, and a client configured by jwks_file (relative path)', async () => {
    await expectForwarded(await sign(await mtlsReq('/signed/c2', { claims: { client_id: 'client-2' } }), otherClientKey));
    await expectForwarded(await sign(await mtlsReq('/signed/file', { claims: { client_id: 'client-file' } }), fileKey));
  });
  it('SIG-3 any label works, the Signature-Input parameters in any order, more components covered than required', async () => {
    const req = await mtlsReq('/signed/x', { extra: [['X-Request-Note', 'hello']] });
    await expectForwarded(await sign(req, ed, { label: 'fapi', fields: ['x-request-note', 'authorization', '@target-uri', '@method'] }));
    const suffix = `;tag="fapi-2-request";keyid="${es.kid}";created=${now()}`;
    await expectForwarded(await signRaw(await mtlsReq('/signed/y'), es, ['@method', '@target-uri', 'authorization'], suffix, 'any-label'));
  });
  it('SIG-4 created up to max_age_s (default 60) in the past or the future, and an expires in the future, are accepted', async () => {
    await expectForwarded(await sign(await mtlsReq('/signed/t'), es, { created: now() - 45 }));
    await expectForwarded(await sign(await mtlsReq('/signed/t'), es, { created: now() + 30 }));
    await expectForwarded(await sign(await mtlsReq('/signed/t'), es, { expires: now() + 60 }));
  });
  it('SIG-6 a POST without a body (Content-Length: 0) needs no content-digest', async () => {
    const req = await mtlsReq('/signed/empty', { method: 'POST', body: Buffer.alloc(0) });
    expect(has(req.headers, 'content-digest')).toBe(false);
    const up = await expectForwarded(await sign(req, es));
    expect(up.body.length).toBe(0);
  });
  it('SIG-6 a sha-512 Content-Digest, or both sha-256 and sha-512, matching the body -> 200', async () => {
    const body = Buffer.from('{"amount":"10.00","currency":"EUR"}');
    await expectForwarded(await sign(await mtlsReq('/signed/pay', { body, digest: contentDigest(body, 'sha-512') }), es));
    await expectForwarded(await sign(await mtlsReq('/signed/pay', { body, digest: `${contentDigest(body, 'sha-512')}, ${contentDigest(body)}` }), es));
  });
  it('SIG-6 a body of several hundred KB with Content-Length: forwarded byte for byte', async () => {
    const body = randomBytes(400 * 1024);
    const up = await expectForwarded(await sign(await mtlsReq('/signed/upload', { method: 'PUT', body }), ps));
    expect(up.body.length).toBe(body.length);
    expect(up.body.equals(body)).toBe(true);
  });
  it('SIG-6 chunked bodies (small, and several hundred KB in many chunks): verified and forwarded byte for byte', async () => {
    for (const size of [1000, 350 * 1024]) {
      const body = randomBytes(size);
      const signed = await sign(await dpopReq('/signed/chunked', { body }), ed);
      expect(has(signed.headers, 'content-length')).toBe(false);
      const before = h.upstream.received.length;
      const r = await sendChunked(signed);
      expect(r.status, r.body).toBe(200);
      expect(h.upstream.received.length).toBe(before + 1);
      const up = h.upstream.received.at(-1)!;
      expect(up.body.length).toBe(size);
      expect(up.body.equals(body)).toBe(true);
      expect(up.headers['content-digest']).toBe(contentDigest(body));
      expect(up.headers.signature).toBe(signed.signatureField);
    }
  });
  it('SIG-6 a chunked request declares a body: content-digest must be covered even if no bytes follow (judged on the head)', async () => {
    const unsigned = await sign(await mtlsReq('/signed/chunked-empty', { method: 'POST' }), es);
    expect(unsigned.inputField).not.toContain('content-digest');
    const before = h.upstream.received.length;
    const refused = await sendChunked({ ...unsigned, body: Buffer.alloc(0) });
    expect(refused.status).toBe(401);
    expect(h.upstream.received.length).toBe(before);
    const signed = await sign(await mtlsReq('/signed/chunked-empty', { method: 'POST', extra: [['Content-Digest', contentDigest(Buffer.alloc(0))]] }), es);
    expect(signed.inputField).toContain('content-digest');
    const r = await sendChunked({ ...signed, body: Buffer.alloc(0) });
    expect(r.status, r.body).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    expect(h.upstream.received.at(-1)!.body.length).toBe(0);
  });
  it('SIG-3 a second signature with another tag beside the fapi-2-request one is ignored', async () => {
    const req = await mtlsReq('/signed/two');
    const fapi = await sign(req, es, { label: 'fapi' });
    const other = await sign(req, ed, { label: 'other', tag: 'something-else', fields: ['@method'] });
    await expectForwarded({
      ...req,
      headers: [...req.headers, ['Signature-Input', `${other.inputField}, ${fapi.inputField}`], ['Signature', `${fapi.signatureField}, ${other.signatureField}`]],
    });
  });
  it('SIG-3 / RFC 8941 §4.2: Signature-Input and Signature split over several field lines are one dictionary each', async () => {
    const req = await mtlsReq('/signed/split');
    const fapi = await sign(req, es, { label: 'fapi' });
    const other = await sign(req, ed, { label: 'other', tag: 'something-else', fields: ['@method'] });
    await expectForwarded({
      ...req,
      headers: [...req.headers, ['Signature-Input', other.inputField], ['Signature', fapi.signatureField], ['Signature-Input', fapi.inputField], ['Signature', other.signatureField]],
    });
  });
});

describe('SIG-7: @target-uri and the other derived components', () => {
  it('SIG-7 @target-uri is the public origin + the target exactly as sent: query order and percent-encoding kept', async () => {
    await expectForwarded(await sign(await mtlsReq('/signed/q?b=2&a=1&a=%7e'), es));
    const up = await expectForwarded(await sign(await mtlsReq('/signed/x%41b'), es));
    expect(up.url).toBe('/signed/xAb'); // the upstream gets the normalised path; the signature covers the raw one
  });
  it('SIG-7 a signature over the normalised target (decoded path, reordered query) -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/x%41b'), es, { targetUri: targetUriOf('/signed/xAb') }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/q?b=2&a=1'), es, { targetUri: targetUriOf('/signed/q?a=1&b=2') }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/q?b=2'), es, { targetUri: targetUriOf('/signed/q') }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/);
  });
  it('SIG-7 @target-uri uses the public origin, not the Host the client connected with', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/host'), es, { targetUri: `https://127.0.0.1:${h.port}/signed/host` }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/host'), es, { targetUri: `http://api.test/signed/host` }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/);
  });
  it('SIG-7 on a route with its own public_origin, @target-uri is that origin (as clients write it: no default port) + the target', async () => {
    const host: Hdrs = [['Host', 'api2.test']];
    await expectForwarded(await sign(await mtlsReq('/second/1?a=1', { extra: host }), es, { targetUri: 'https://api2.test/second/1?a=1' }));
    await expectSigRefusal(await sign(await mtlsReq('/second/1', { extra: host }), es, { targetUri: `${PUBLIC_ORIGIN}/second/1` }), 'GW_HTTP_SIG_INVALID', /SIG-[27]/, 'signed-second-host');
  });
  it('SIG-7 @authority, @scheme, @path, @query and @request-target can be covered (values of the public target URI)', async () => {
    const fields = ['@method', '@target-uri', 'authorization', '@authority', '@scheme', '@path', '@query', '@request-target'];
    await expectForwarded(await sign(await mtlsReq('/signed/derived?k=v&z=1'), es, { fields }));
    await expectForwarded(await sign(await mtlsReq('/signed/derived'), ed, { fields }));
  });
  it('SIG-7 plain fields: every field line of the name, trimmed, joined with ", "', async () => {
    const req = await mtlsReq('/signed/fields', { extra: [['X-Sig-Test', '  one  '], ['Accept', 'application/json'], ['x-sig-test', 'two']] });
    await expectForwarded(await sign(req, es, { fields: ['@method', '@target-uri', 'authorization', 'x-sig-test', 'accept'] }));
  });
  it('SIG-7 a covered field absent from the request -> 401 GW_HTTP_SIG_INVALID', async () => {
    const req = await mtlsReq('/signed/fields', { extra: [['X-Sig-Test', 'one']] });
    const signed = await sign(req, es, { fields: ['@method', '@target-uri', 'authorization', 'x-sig-test'] });
    await expectSigRefusal({ ...signed, headers: without(signed.headers, 'x-sig-test') }, 'GW_HTTP_SIG_INVALID', /SIG-[37]/);
  });
  it('SIG-7 a covered field identifier that is not lower-case -> 401 GW_HTTP_SIG_INVALID', async () => {
    const req = await mtlsReq('/signed/fields', { extra: [['X-Sig-Test', 'one']] });
    const signed = await sign(req, es, { fields: ['@method', '@target-uri', 'authorization', 'X-Sig-Test'] });
    expect(signed.inputField).toContain('"X-Sig-Test"');
    await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-[37]/);
  });
  it('SIG-7 component identifiers with parameters (;sf, ;key, @query-param;name) -> 401 GW_HTTP_SIG_INVALID', async () => {
    const base = ['@method', '@target-uri', 'authorization'];
    const dict = await mtlsReq('/signed/params?x=1', { extra: [['X-Sig-Dict', 'a=1, b=2']] });
    for (const extra of ['x-sig-dict;sf', 'x-sig-dict;key="a"', '@query-param;name="x"']) {
      const signed = await sign(dict, es, { fields: [...base, extra] });
      await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-[37]/);
    }
  });
  it('SIG-7 a duplicate component identifier -> 401 GW_HTTP_SIG_INVALID', async () => {
    for (const dup of ['@method', 'authorization']) {
      const signed = await sign(await mtlsReq('/signed/dup'), es, { fields: ['@method', '@target-uri', 'authorization', dup] });
      await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-[37]/);
    }
  });
  it('SIG-7 a derived component the gateway does not support (@status, @foo) -> 401 GW_HTTP_SIG_INVALID', async () => {
    for (const c of ['@status', '@foo']) {
      const signed = await signRaw(await mtlsReq('/signed/unknown'), es, ['@method', '@target-uri', 'authorization'], `;created=${now()};keyid="${es.kid}";tag="fapi-2-request"`);
      // Put the unsupported component into the covered list (the signature cannot be right anyway).
      const input = signed.inputField.replace('"authorization")', `"authorization" "${c}")`);
      await expectSigRefusal({ ...signed, headers: [...without(signed.headers, 'signature-input'), ['Signature-Input', input]] }, 'GW_HTTP_SIG_INVALID', /SIG-[237]/);
    }
  });
});

describe('missing signatures and SIG-3 coverage', () => {
  it('SIG-2 / E8 an unsigned request to a signed route -> 401 GW_HTTP_SIG_MISSING on the scheme used (mTLS: Bearer)', async () => {
    await expectSigRefusal(await mtlsReq('/signed/none'), 'GW_HTTP_SIG_MISSING', /SIG-\d/);
  });
  it('SIG-2 / E8 an unsigned request with a DPoP-bound token -> 401 GW_HTTP_SIG_MISSING on the DPoP challenge, Bearer bare', async () => {
    await expectSigRefusal(await dpopReq('/signed/none'), 'GW_HTTP_SIG_MISSING', /SIG-\d/);
  });
  it('SIG-3 no member tagged fapi-2-request (no tag, another tag) -> 401 GW_HTTP_SIG_MISSING', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/tag'), es, { tag: null }), 'GW_HTTP_SIG_MISSING', /SIG-\d/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/tag'), es, { tag: 'fapi-2-response' }), 'GW_HTTP_SIG_MISSING', /SIG-\d/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/tag'), es, { tag: 'FAPI-2-REQUEST' }), 'GW_HTTP_SIG_MISSING', /SIG-\d/);
  });
  it('SIG-3 only one of the two fields (Signature-Input without Signature, or the reverse) -> 401, never forwarded', async () => {
    const signed = await sign(await mtlsReq('/signed/half'), es);
    for (const drop of ['signature', 'signature-input']) {
      const iid = randomUUID();
      const before = h.upstream.received.length;
      const r = await send({ ...signed, headers: without(signed.headers, drop) }, iid);
      expectErrorContract(r, 401, 'invalid_request');
      expect(h.upstream.received.length).toBe(before);
      expect((await logFor(h, iid))?.reason).toMatch(/^GW_HTTP_SIG_(MISSING|INVALID)$/);
    }
  });
  it('SIG-3 two members tagged fapi-2-request -> 401 GW_HTTP_SIG_INVALID (exactly one must exist)', async () => {
    const req = await mtlsReq('/signed/two-fapi');
    const a = await sign(req, es, { label: 'a' });
    const b = await sign(req, ed, { label: 'b' });
    await expectSigRefusal(
      { ...req, headers: [...req.headers, ['Signature-Input', `${a.inputField}, ${b.inputField}`], ['Signature', `${a.signatureField}, ${b.signatureField}`]] },
      'GW_HTTP_SIG_INVALID',
      /SIG-\d/,
    );
  });
  it('SIG-3 Signature-Input that is not a dictionary, or whose fapi member is not an inner list -> 401, never forwarded', async () => {
    const req = await mtlsReq('/signed/malformed');
    const signed = await sign(req, es);
    for (const input of ['sig1=("@method" "@target-uri" "authorization"', `sig1="@method";created=${now()};keyid="${es.kid}";tag="fapi-2-request"`]) {
      const iid = randomUUID();
      const before = h.upstream.received.length;
      const r = await send({ ...req, headers: [...req.headers, ['Signature-Input', input], ['Signature', signed.signatureField]] }, iid);
      expectErrorContract(r, 401, 'invalid_request');
      expect(h.upstream.received.length).toBe(before);
      expect((await logFor(h, iid))?.reason).toMatch(/^GW_HTTP_SIG_(MISSING|INVALID)$/);
    }
  });
  it('SIG-3 the Signature field has no byte-sequence member of that label -> 401 GW_HTTP_SIG_INVALID', async () => {
    const signed = await sign(await mtlsReq('/signed/label'), es, { label: 'fapi' });
    const rest = without(without(signed.headers, 'signature'), 'signature-input');
    await expectSigRefusal({ ...signed, headers: [...rest, ['Signature-Input', signed.inputField], ['Signature', signed.signatureField.replace(/^fapi=/, 'other=')]] }, 'GW_HTTP_SIG_INVALID', /SIG-\d/);
    await expectSigRefusal({ ...signed, headers: [...rest, ['Signature-Input', signed.inputField], ['Signature', `fapi="${signed.sigValue}"`]] }, 'GW_HTTP_SIG_INVALID', /SIG-\d/);
  });
  it('SIG-3 @method, @target-uri or authorization not covered -> 401 GW_HTTP_SIG_INVALID naming SIG-3', async () => {
    const all = ['@method', '@target-uri', 'authorization'];
    for (const missing of all) {
      const signed = await sign(await mtlsReq('/signed/cover'), es, { fields: all.filter((f) => f !== missing) });
      await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-3/);
    }
  });
  it('SIG-5 a DPoP header not covered -> 401 GW_HTTP_SIG_INVALID naming SIG-5, on the DPoP challenge', async () => {
    const signed = await sign(await dpopReq('/signed/dpop'), es, { fields: ['@method', '@target-uri', 'authorization'] });
    await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-5/);
  });
});

describe('SIG-4: created and expires', () => {
  it('SIG-4 no created -> 401 GW_HTTP_SIG_INVALID', async () => {
    const signed = await sign(await mtlsReq('/signed/created'), es, { created: null });
    expect(signed.inputField).not.toContain('created=');
    await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-4/);
  });
  it('SIG-4 created 5 minutes ago, 70 s ago, or 2 minutes ahead -> 401 GW_HTTP_SIG_INVALID', async () => {
    for (const created of [now() - 300, now() - 70, now() + 120]) {
      await expectSigRefusal(await sign(await mtlsReq('/signed/created'), es, { created }), 'GW_HTTP_SIG_INVALID', /SIG-4/);
    }
  });
  it('SIG-4 created not an integer (a decimal, a string) -> 401 GW_HTTP_SIG_INVALID', async () => {
    const fields = ['@method', '@target-uri', 'authorization'];
    for (const created of [`${now()}.5`, `"${now()}"`]) {
      const signed = await signRaw(await mtlsReq('/signed/created'), es, fields, `;created=${created};keyid="${es.kid}";tag="fapi-2-request"`);
      await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-4/);
    }
  });
  it('SIG-4 an expires that is not an integer -> 401 GW_HTTP_SIG_INVALID', async () => {
    const fields = ['@method', '@target-uri', 'authorization'];
    const signed = await signRaw(await mtlsReq('/signed/expires'), es, fields, `;created=${now()};expires=${now() + 60}.5;keyid="${es.kid}";tag="fapi-2-request"`);
    await expectSigRefusal(signed, 'GW_HTTP_SIG_INVALID', /SIG-4/);
  });
  it('SIG-4 an expires in the past -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/expires'), es, { created: now() - 10, expires: now() - 2 }), 'GW_HTTP_SIG_INVALID', /SIG-4/);
  });
  it('SIG-4 max_age_s is configurable: at 10, created 30 s ago -> 401; back at the default it is accepted', async () => {
    h.reload((c) => (c.http_signatures.max_age_s = 10));
    try {
      await expectSigRefusal(await sign(await mtlsReq('/signed/age'), es, { created: now() - 30 }), 'GW_HTTP_SIG_INVALID', /SIG-4/);
      await expectForwarded(await sign(await mtlsReq('/signed/age'), es, { created: now() - 5 }));
    } finally {
      h.reload();
    }
    await expectForwarded(await sign(await mtlsReq('/signed/age'), es, { created: now() - 30 }));
  });
});

describe('SIG-2: keys and signatures', () => {
  it('SIG-2 no keyid -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/kid'), es, { keyid: null }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a keyid that is not a string (an integer, a token) -> 401 GW_HTTP_SIG_INVALID', async () => {
    const fields = ['@method', '@target-uri', 'authorization'];
    for (const keyid of ['123', 'c1-es256']) {
      await expectSigRefusal(await signRaw(await mtlsReq('/signed/kid'), es, fields, `;created=${now()};keyid=${keyid};tag="fapi-2-request"`), 'GW_HTTP_SIG_INVALID', /SIG-2/);
    }
  });
  it('SIG-2 the key sets follow a config reload: a key taken out is refused, one left in still works', async () => {
    h.reload((c) => (c.http_signatures.clients['client-1'] = { jwks: { keys: [ed.jwk] } }));
    try {
      await expectSigRefusal(await sign(await mtlsReq('/signed/reload'), es), 'GW_HTTP_SIG_INVALID', /SIG-2/);
      await expectForwarded(await sign(await mtlsReq('/signed/reload'), ed));
    } finally {
      h.reload();
    }
    await expectForwarded(await sign(await mtlsReq('/signed/reload'), es));
  });
  it('SIG-2 an unknown keyid -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/kid'), es, { keyid: 'no-such-key' }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a key of another client (the keyid is not in the token client\'s set) -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/kid'), otherClientKey), 'GW_HTTP_SIG_INVALID', /SIG-2/);
    await expectSigRefusal(await sign(await mtlsReq('/signed/kid', { claims: { client_id: 'client-2' } }), es), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a token whose client_id has no key set -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/kid', { claims: { client_id: 'client-unknown' } }), es), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a signature by another private key under a valid keyid, for each key type -> 401 GW_HTTP_SIG_INVALID', async () => {
    for (const k of [ps, es, ed]) {
      const thief = clientKey(k.alg, 'thief');
      await expectSigRefusal(await sign(await mtlsReq('/signed/bad'), k, { signWith: thief.privateKey }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
    }
  });
  it('SIG-2 a tampered signature value -> 401 GW_HTTP_SIG_INVALID', async () => {
    const signed = await sign(await mtlsReq('/signed/bad'), ed);
    const bytes = Buffer.from(signed.sigValue, 'base64');
    bytes[0] = (bytes[0] as number) ^ 1;
    const forged = `sig1=:${bytes.toString('base64')}:`;
    await expectSigRefusal({ ...signed, headers: [...without(signed.headers, 'signature'), ['Signature', forged]] }, 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 an ES256 signature in DER instead of r||s (RFC 9421 §3.3.4) -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/der'), es, { derEcdsa: true }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 an alg parameter other than the key\'s RFC 9421 algorithm -> 401 GW_HTTP_SIG_INVALID', async () => {
    const cases: [ClientKey, string][] = [
      [es, 'ed25519'],
      [es, 'ecdsa-p384-sha384'],
      [ed, 'ecdsa-p256-sha256'],
      [eddsa, 'EdDSA'],
      [ps, 'rsa-pss-sha512'],
      [ps, 'PS256'],
      [es, 'hmac-sha256'],
    ];
    for (const [k, alg] of cases) await expectSigRefusal(await sign(await mtlsReq('/signed/alg'), k, { alg }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a signature that covers an Authorization other than the one sent -> 401 GW_HTTP_SIG_INVALID', async () => {
    const signed = await sign(await mtlsReq('/signed/swap'), es);
    const other = await mtlsToken();
    await expectSigRefusal({ ...signed, headers: [['Authorization', `Bearer ${other}`], ...without(signed.headers, 'authorization')] }, 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
  it('SIG-2 a signed request replayed with another method -> 401 GW_HTTP_SIG_INVALID', async () => {
    const signed = await sign(await mtlsReq('/signed/method', { method: 'GET' }), es);
    // Content-Length: 0, or Node's client would send the bodiless PUT chunked (a declared body, SIG-6).
    await expectSigRefusal({ ...signed, method: 'PUT', headers: [...signed.headers, ['Content-Length', '0']] }, 'GW_HTTP_SIG_INVALID', /SIG-2/);
  });
});

describe('SIG-6: the body and its Content-Digest', () => {
  const body = Buffer.from('{"instructedAmount":{"amount":"100.00","currency":"EUR"}}');
  it('SIG-6 a body with content-digest not covered -> 401 GW_HTTP_SIG_INVALID naming SIG-6', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/pay', { body }), es, { fields: ['@method', '@target-uri', 'authorization'] }), 'GW_HTTP_SIG_INVALID', /SIG-6/);
  });
  it('SIG-6 a body without any Content-Digest -> 401 GW_HTTP_SIG_INVALID naming SIG-6', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/pay', { body, digest: false }), es), 'GW_HTTP_SIG_INVALID', /SIG-6/);
  });
  it('SIG-6 the body changed after signing, Content-Digest left intact -> 401 GW_HTTP_SIG_INVALID naming SIG-6', async () => {
    const signed = await sign(await mtlsReq('/signed/pay', { body }), es);
    const tampered = Buffer.from(body.toString().replace('100.00', '999.00'));
    expect(tampered.length).toBe(body.length);
    await expectSigRefusal({ ...signed, body: tampered }, 'GW_HTTP_SIG_INVALID', /SIG-6/);
  });
  it('SIG-6 the body changed and Content-Digest recomputed to match: the signature no longer verifies -> 401', async () => {
    const signed = await sign(await mtlsReq('/signed/pay', { body }), es);
    const tampered = Buffer.from(body.toString().replace('100.00', '999.00'));
    await expectSigRefusal({ ...signed, body: tampered, headers: [...without(signed.headers, 'content-digest'), ['Content-Digest', contentDigest(tampered)]] }, 'GW_HTTP_SIG_INVALID', /SIG-[26]/);
  });
  it('SIG-6 a Content-Digest with only other algorithms, or not a dictionary of byte sequences -> 401 GW_HTTP_SIG_INVALID', async () => {
    const md5 = createHash('md5').update(body).digest('base64');
    for (const digest of [`md5=:${md5}:`, `sha-384=:${createHash('sha384').update(body).digest('base64')}:`, `sha-256=${sha('sha256', body)}`, 'garbage(', `sha-256="${sha('sha256', body)}"`]) {
      await expectSigRefusal(await sign(await mtlsReq('/signed/pay', { body, digest }), es), 'GW_HTTP_SIG_INVALID', /SIG-6/);
    }
  });
  it('SIG-6 a sha-512 digest of other bytes -> 401 GW_HTTP_SIG_INVALID', async () => {
    await expectSigRefusal(await sign(await mtlsReq('/signed/pay', { body, digest: contentDigest(Buffer.from('other'), 'sha-512') }), es), 'GW_HTTP_SIG_INVALID', /SIG-6/);
  });
  it('SIG-6 a chunked body that does not match its Content-Digest -> 401, never forwarded', async () => {
    const big = randomBytes(64 * 1024);
    const signed = await sign(await dpopReq('/signed/chunked', { body: big }), es);
    const tampered = Buffer.from(big);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0xff;
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const r = await sendChunked({ ...signed, body: tampered }, iid);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_request' });
    expect(h.upstream.received.length).toBe(before);
    const line = await logFor(h, iid);
    expect(line).toMatchObject({ reason: 'GW_HTTP_SIG_INVALID', status: 401 });
    expect(String(line?.detail)).toMatch(/SIG-6/);
  });
  it('SIG-6 a signed POST with Expect: 100-continue gets its 100 before the body is read, then is verified and forwarded', async () => {
    const body = randomBytes(2048);
    const signed = await sign(await mtlsReq('/signed/expect', { body }), es);
    const before = h.upstream.received.length;
    const status = await new Promise<number>((resolve, reject) => {
      const raw: string[] = ['Host', `127.0.0.1:${h.port}`, 'Content-Length', String(body.length), 'Expect', '100-continue'];
      for (const [n, v] of signed.headers) raw.push(n, v);
      const r = httpsRequest(h.url(signed.path), { method: 'POST', headers: raw, ca: h.pki.ca.certPem, servername: 'localhost', agent: false, cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
      const timer = setTimeout(() => r.destroy(new Error('no 100 Continue within 1500 ms')), 1500);
      r.on('continue', () => {
        clearTimeout(timer);
        r.end(body);
      });
      r.on('error', reject);
      r.on('response', (res) => {
        clearTimeout(timer);
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
    });
    expect(status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    expect(h.upstream.received.at(-1)!.body.equals(body)).toBe(true);
  });
  it('a body over the route\'s max_body_bytes still gets 413 (Content-Length and chunked), never forwarded', async () => {
    const tooBig = randomBytes(SMALL_LIMIT * 2);
    const before = h.upstream.received.length;
    const cl = await send(await sign(await mtlsReq('/small', { body: tooBig }), es));
    expectErrorContract(cl, 413, 'invalid_request');
    const iid = randomUUID();
    const chunked = await sendChunked(await sign(await mtlsReq('/small', { body: tooBig }), es), iid, 256);
    expect(chunked.status).toBe(413);
    expect((await logFor(h, iid))?.reason).toBe('GW_BODY_TOO_LARGE');
    expect(h.upstream.received.length).toBe(before);
    // Within the limit the same route forwards.
    const fits = randomBytes(SMALL_LIMIT);
    const up = await expectForwarded(await sign(await mtlsReq('/small', { body: fits }), es));
    expect(up.body.equals(fits)).toBe(true);
  });
});

describe('DPOP-21: the signature is checked before the proof\'s jti is claimed', () => {
  it('DPOP-21 a refused signature does not use up the proof: the same proof with a valid signature -> 200', async () => {
    const req = await dpopReq('/signed/replay');
    // Refused for the signature three ways, each with the same proof ...
    await expectSigRefusal(req, 'GW_HTTP_SIG_MISSING', /SIG-\d/);
    await expectSigRefusal(await sign(req, es, { fields: ['@method', '@target-uri', 'authorization'] }), 'GW_HTTP_SIG_INVALID', /SIG-5/);
    await expectSigRefusal(await sign(req, es, { signWith: clientKey('ES256', 'x').privateKey }), 'GW_HTTP_SIG_INVALID', /SIG-2/);
    // ... which is still unused.
    await expectForwarded(await sign(req, es));
  });
  it('DPOP-21 a valid signed request\'s proof replayed with a fresh valid signature -> 401 GW_DPOP_REPLAY', async () => {
    const req = await dpopReq('/signed/replay2');
    await expectForwarded(await sign(req, ed));
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const again = await send(await sign(req, ed), iid);
    expect(again.status).toBe(401);
    expect(challenges(again)[1]).toMatch(/^DPoP realm="api\.test", error="invalid_dpop_proof"/);
    expect((await logFor(h, iid))?.reason).toBe('GW_DPOP_REPLAY');
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('order: token, sender constraint, scope and step-up are checked before the signature', () => {
  const reasonOf = async (req: Req): Promise<{ r: TestResponse; reason: unknown }> => {
    const iid = randomUUID();
    const r = await send(req, iid);
    return { r, reason: (await logFor(h, iid))?.reason };
  };
  it('no credentials at all -> 401 E1 (GW_NO_CREDENTIALS), not a signature error', async () => {
    const { r, reason } = await reasonOf({ method: 'GET', path: '/signed/order', headers: [] });
    expect(r.status).toBe(401);
    expect(reason).toBe('GW_NO_CREDENTIALS');
    expect(challenges(r)).toEqual([BEARER_BARE, DPOP_BARE]);
    // Only a signature refusal says what to sign.
    expect(r.headers['accept-signature']).toBeUndefined();
  });
  it('an expired token, unsigned -> 401 invalid_token', async () => {
    const { r, reason } = await reasonOf(await mtlsReq('/signed/order', { claims: { exp: now() - 120, iat: now() - 400 } }));
    expect(r.status).toBe(401);
    expect(r.json().error).toBe('invalid_token');
    expect(String(reason)).not.toMatch(/^GW_HTTP_SIG/);
  });
  it('an mTLS-bound token without its certificate, unsigned -> 401 invalid_token (GW_CERT_MISSING)', async () => {
    const req = await mtlsReq('/signed/order');
    const { r, reason } = await reasonOf({ ...req, cert: undefined });
    expect(r.status).toBe(401);
    expect(reason).toBe('GW_CERT_MISSING');
  });
  it('a bad DPoP proof, validly signed -> 401 invalid_dpop_proof', async () => {
    const req = await dpopReq('/signed/order', { proof: await proof(dk, { htm: 'POST', htu: `${PUBLIC_ORIGIN}/signed/order`, token: 'other-token' }) });
    const { r, reason } = await reasonOf(await sign(req, es));
    expect(r.status).toBe(401);
    expect(challenges(r)[1]).toMatch(/error="invalid_dpop_proof"/);
    expect(String(reason)).not.toMatch(/^GW_HTTP_SIG/);
  });
  it('insufficient scope, unsigned -> 403 insufficient_scope', async () => {
    const { r, reason } = await reasonOf(await mtlsReq('/scoped/1'));
    expect(r.status).toBe(403);
    expect(reason).toBe('GW_INSUFFICIENT_SCOPE');
    // With the scope, the signature is what is missing.
    await expectSigRefusal(await mtlsReq('/scoped/1', { claims: { scope: 'payments' } }), 'GW_HTTP_SIG_MISSING', /SIG-\d/, 'signed-scoped');
    await expectForwarded(await sign(await mtlsReq('/scoped/1', { claims: { scope: 'payments' } }), es));
  });
  it('step-up not met, unsigned -> 401 insufficient_user_authentication', async () => {
    const { r, reason } = await reasonOf(await mtlsReq('/step-up/1'));
    expect(r.status).toBe(401);
    expect(reason).toBe('GW_STEP_UP_REQUIRED');
    await expectForwarded(await sign(await mtlsReq('/step-up/1', { claims: { acr: 'urn:test:high', auth_time: now() - 5 } }), es));
  });
});

describe('routes without signed_requests ignore signatures', () => {
  it('an unsigned request -> 200', async () => {
    await expectForwarded(await mtlsReq('/plain/1'));
    await expectForwarded(await dpopReq('/plain/1'));
  });
  it('garbage Signature / Signature-Input, a bad signature, a wrong Content-Digest: all ignored -> 200, forwarded as sent', async () => {
    const body = Buffer.from('{"a":1}');
    await expectForwarded(await mtlsReq('/plain/2', { extra: [['Signature-Input', 'not a dictionary ((('], ['Signature', 'sig1=:AAAA:']] }));
    await expectForwarded(await sign(await mtlsReq('/plain/3'), es, { signWith: clientKey('ES256', 'x').privateKey, created: now() - 3600 }));
    const up = await expectForwarded(await mtlsReq('/plain/4', { body, digest: contentDigest(Buffer.from('other')) }));
    expect(up.body.equals(body)).toBe(true);
  });
});

describe('config (the rules themselves: test/unit/signature/client-keys.test.ts)', () => {
  it('SIG-2 a gateway whose http_signatures holds an unusable key does not start, naming the key', async () => {
    const sig = { clients: { 'client-1': { jwks: { keys: [{ ...es.jwk, alg: 'PS256' }] } } } };
    const start = startHarness({ issuer: h.issuer, upstream: h.upstream, patch: (c) => (c.http_signatures = sig) });
    await expect(start.then((g) => g.close())).rejects.toThrow(/http_signatures\.clients\.client-1\.jwks\.keys\[0\]: alg PS256 needs kty RSA/);
  });
});

describe('log hygiene', () => {
  it('E8: no log line carries any Signature value sent in this file', () => {
    expect(signatures.size).toBeGreaterThan(0);
    const all = h.logs.join('\n');
    for (const s of signatures) expect(all.includes(s), 'a signature value was logged').toBe(false);
  });
});
