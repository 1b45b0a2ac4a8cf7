// Signed-message test helpers (SIG-2..SIG-8): client keys, an independent signer (the
// `http-message-signatures` library), a request's raw head, an open mTLS connection, and a harness
// whose routes sign responses with a key file.
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { httpbis } from 'http-message-signatures';
import { PUBLIC_ORIGIN, startHarness, type Harness, type HarnessOptions } from './gateway.js';
import { cnfX5t } from './issuer.js';
import { testPki } from './pki.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type Hdrs = [string, string][];

export interface ClientKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

export function edKey(kid: string): ClientKey {
  const pair = generateKeyPairSync('ed25519');
  return { kid, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg: 'Ed25519' } };
}

export const now = (): number => Math.floor(Date.now() / 1000);
export const digest = (body: Buffer): string => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;

export interface Req {
  method: string;
  path: string;
  headers: Hdrs;
  body?: Buffer;
}

function libMessage(req: Req, url: string): { method: string; url: string; headers: Record<string, string | string[]> } {
  const headers: Record<string, string | string[]> = {};
  for (const [n, v] of req.headers) {
    const k = n.toLowerCase();
    const cur = headers[k];
    headers[k] = cur === undefined ? v : [...(Array.isArray(cur) ? cur : [cur]), v];
  }
  return { method: req.method, url, headers };
}

/** Signs with Ed25519 via the library; returns the request with Signature-Input and Signature appended. */
export async function sign(req: Req, k: ClientKey, o: { fields?: string[]; created?: number; targetUri?: string } = {}): Promise<Req> {
  const has = (n: string): boolean => req.headers.some(([x]) => x.toLowerCase() === n);
  const fields = o.fields ?? ['@method', '@target-uri', 'authorization', ...(has('dpop') ? ['dpop'] : []), ...(has('content-digest') ? ['content-digest'] : [])];
  const out = await httpbis.signMessage(
    {
      key: { sign: async (data: Buffer) => cryptoSign(null, data, k.privateKey) },
      name: 'sig1',
      fields,
      params: ['created', 'keyid', 'tag'],
      paramValues: { created: new Date((o.created ?? now()) * 1000), keyid: k.kid, tag: 'fapi-2-request' } as never,
    },
    libMessage(req, o.targetUri ?? `${PUBLIC_ORIGIN}${req.path}`),
  );
  return { ...req, headers: [...req.headers, ['Signature-Input', out.headers['Signature-Input'] as string], ['Signature', out.headers['Signature'] as string]] };
}

/** Signs a hand-written signature base (for inputs the library cannot produce). */
export function signBase(base: string, k: ClientKey): string {
  return cryptoSign(null, Buffer.from(base, 'latin1'), k.privateKey).toString('base64');
}

export async function mtlsReq(h: Harness, method: string, path: string, body?: Buffer, extra: Hdrs = []): Promise<Req> {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  const headers: Hdrs = [['Authorization', `Bearer ${token}`]];
  if (body !== undefined && body.length > 0) headers.push(['Content-Type', 'application/octet-stream'], ['Content-Digest', digest(body)]);
  headers.push(...extra);
  return { method, path, headers, ...(body !== undefined && { body }) };
}

/** The head of a request as raw bytes (Host first), no body. */
export function head(h: Harness, req: Req, extra: Hdrs = []): string {
  let s = `${req.method} ${req.path} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n`;
  for (const [n, v] of [...req.headers, ...extra]) s += `${n}: ${v}\r\n`;
  return `${s}\r\n`;
}

/** An open mTLS connection to the gateway (client1), collecting what it answers. */
export function openTls(h: Harness): Promise<{ socket: TLSSocket; received: () => string; closed: () => boolean; waitFor: (re: RegExp, ms?: number) => Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem }, () =>
      resolve({
        socket,
        received: () => Buffer.concat(chunks).toString('latin1'),
        closed: () => closed,
        waitFor: async (re, ms = 3000) => {
          const until = Date.now() + ms;
          while (Date.now() < until) {
            if (re.test(Buffer.concat(chunks).toString('latin1'))) return true;
            if (closed) return re.test(Buffer.concat(chunks).toString('latin1'));
            await new Promise((r) => setTimeout(r, 10));
          }
          return false;
        },
      }),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => (closed = true));
    socket.on('error', (e) => {
      if (!socket.getProtocol()) reject(e);
    });
  });
}

export async function signedHarness(routes: Record<string, unknown>[], keys: ClientKey[], patch?: HarnessOptions['patch'], more: Partial<HarnessOptions> = {}): Promise<Harness> {
  return startHarness({
    routes,
    patch: (c) => {
      c.http_signatures = { clients: { 'client-1': { jwks: { keys: keys.map((k) => k.jwk) } } } };
      patch?.(c);
    },
    ...more,
  });
}

// Response signing (SIG-8): a private key file, a harness that signs every route's responses.
export interface SigningKeyFile {
  readonly dir: string;
  readonly file: string;
  readonly privateKey: KeyObject;
  cleanup(): void;
}

export function keyFile(type: 'ed25519' | 'ec' | 'rsa' = 'ed25519'): SigningKeyFile {
  const dir = mkdtempSync(join(tmpdir(), 'rs-review-'));
  const pair =
    type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const file = join(dir, 'gw.pem');
  writeFileSync(file, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  return { dir, file, privateKey: pair.privateKey, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A harness whose routes get `sign_responses: true` unless they say otherwise. */
export async function signingHarness(routes: Record<string, unknown>[], key: SigningKeyFile, opts: { kid?: string; alg?: string; patch?: HarnessOptions['patch'] } = {}): Promise<Harness> {
  return startHarness({
    routes: routes.map((r) => ({ sign_responses: true, ...r })),
    patch: (c) => {
      c.http_signatures = { response_signing: { keys: [{ key_file: key.file, kid: opts.kid ?? 'gw-1', alg: opts.alg ?? 'EdDSA' }], max_body_bytes: 1000 } };
      opts.patch?.(c);
    },
  });
}

export const mtlsToken = (h: Harness, extra: Record<string, unknown> = {}): Promise<string> => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });


/** Heap in use after a full GC: memory a test can say is retained, not garbage (for the body buffers). */
export function retainedHeap(): number {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

/**
 * ArrayBuffer memory (the Buffers of bodies) still reachable after a full GC. Backing stores of collected
 * ArrayBuffers are freed by a background sweep: collect, wait, collect.
 */
export async function retainedBuffers(): Promise<number> {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  return process.memoryUsage().arrayBuffers;
}

export { PUBLIC_ORIGIN };

// Clients' keys behind a jwks_uri (SIG-2): a directory's JWKS host over real TLS (the test CA).
export interface JwksHost {
  /** https://127.0.0.1:PORT<path> */
  url(path: string): string;
  /** What each path answers: a JWKS object, or raw text. Unknown paths: 404. */
  readonly docs: Map<string, unknown>;
  /** 'down': 503 on every path; 'hang': never answers. */
  mode: 'ok' | 'down' | 'hang';
  /** Requests by path. */
  readonly fetches: Map<string, number>;
  close(): Promise<void>;
}

export async function startJwksHost(): Promise<JwksHost> {
  const pki = await testPki();
  const host = { docs: new Map<string, unknown>(), fetches: new Map<string, number>(), mode: 'ok' as JwksHost['mode'] };
  const server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const path = req.url ?? '/';
    host.fetches.set(path, (host.fetches.get(path) ?? 0) + 1);
    if (host.mode === 'hang') return;
    const doc = host.docs.get(path);
    if (host.mode === 'down' || doc === undefined) {
      res.writeHead(host.mode === 'down' ? 503 : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(typeof doc === 'string' ? doc : JSON.stringify(doc));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(host, {
    url: (path: string) => `https://127.0.0.1:${port}${path}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  });
}
