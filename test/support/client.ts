// Test clients: HTTPS requests with exact (duplicate) headers, raw TLS writes, TLS handshake probes.
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import { connect, type SecureVersion, type TLSSocket } from 'node:tls';

export interface RequestOpts {
  method?: string;
  /** sent verbatim and in order; duplicates allowed. Host / Content-Length are added if absent. */
  headers?: [string, string][];
  body?: string | Buffer;
  cert?: string;
  key?: string;
  ca: string;
  /** default: a fresh connection per request (agent: false) */
  agent?: Agent;
  /** TLS session to resume */
  session?: Buffer;
  servername?: string;
  /** OpenSSL cipher string, e.g. `DEFAULT:@SECLEVEL=0` to present a key Node's default level refuses */
  ciphers?: string;
}

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  headersDistinct: Record<string, string[]>;
  body: string;
  json(): any;
  /** TLS session for resumption (if the server issued one) */
  session?: Buffer;
  tlsProtocol?: string;
  sessionReused?: boolean;
}

/** HTTPS request that never rejects on HTTP status (only on transport errors). */
export function request(url: string, opts: RequestOpts): Promise<TestResponse> {
  const u = new URL(url);
  const given = opts.headers ?? [];
  const has = (name: string): boolean => given.some(([n]) => n.toLowerCase() === name);
  // Node sends an array `headers` verbatim but then adds neither Host nor Content-Length itself.
  const raw: string[] = [];
  if (!has('host')) raw.push('Host', u.host);
  for (const [n, v] of given) raw.push(n, v);
  if (opts.body !== undefined && !has('content-length') && !has('transfer-encoding')) {
    raw.push('Content-Length', String(Buffer.byteLength(opts.body)));
  }
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const req = httpsRequest(u, {
      method: opts.method ?? 'GET',
      headers: raw,
      ca: opts.ca,
      ...(opts.cert !== undefined && { cert: opts.cert }),
      ...(opts.key !== undefined && { key: opts.key }),
      ...(opts.session !== undefined && { session: opts.session }),
      ...(opts.servername !== undefined && { servername: opts.servername }),
      ...(opts.ciphers !== undefined && { ciphers: opts.ciphers }),
      agent: opts.agent ?? false,
    });
    req.on('socket', (s) => s.on('session', (b: Buffer) => (session = b)));
    req.on('error', reject);
    req.on('response', (res) => {
      // Read now: with a keep-alive agent the socket goes back to its pool, and off the response, at 'end'.
      const tls = res.socket as TLSSocket;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          headersDistinct: res.headersDistinct as Record<string, string[]>,
          body,
          json: () => JSON.parse(body),
          session: session ?? tls.getSession?.(),
          tlsProtocol: tls.getProtocol?.() ?? undefined,
          sessionReused: tls.isSessionReused?.(),
        });
      });
    });
    req.end(opts.body);
  });
}

export interface TlsClientOpts {
  ca: string;
  cert?: string;
  key?: string;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  ciphers?: string;
  servername?: string;
}

/**
 * Write raw bytes over TLS and collect the reply until the server closes (closed: true)
 * or timeoutMs (default 2000) passes (closed: false). halfClose ends our side after writing.
 */
export function rawTls(
  host: string,
  port: number,
  opts: TlsClientOpts & { payload: string | Buffer; timeoutMs?: number; halfClose?: boolean },
): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const socket = connect({ host, port, ...tlsOpts(opts) }, () => {
      socket.write(opts.payload);
      if (opts.halfClose) socket.end();
    });
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 2000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => {
      // a reset after the handshake still counts as the server closing
      if (socket.getProtocol()) finish(true);
      else if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

export interface RawResponse {
  readonly status: number;
  /** Status line and header lines, without the blank line. */
  readonly head: string;
  /** Header fields, names lower-cased (the last of repeated fields). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The first response in a raw byte stream: status, head, fields and everything after the head. */
export function parseRawResponse(response: string): RawResponse {
  const i = response.indexOf('\r\n\r\n');
  const head = i === -1 ? response : response.slice(0, i);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), head, headers, body: i === -1 ? '' : response.slice(i + 4) };
}

/** Complete a TLS handshake (client side) and report what was negotiated. Never rejects. */
export function tlsProbe(
  host: string,
  port: number,
  opts: TlsClientOpts,
): Promise<{ ok: boolean; protocol?: string; cipher?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ...tlsOpts(opts) }, () => {
      const protocol = socket.getProtocol() ?? undefined;
      const cipher = socket.getCipher().name; // OpenSSL name, as used in `ciphers` strings
      socket.destroy();
      resolve({ ok: true, ...(protocol && { protocol }), cipher });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('tlsProbe timeout')));
    socket.on('error', (err) => {
      socket.destroy();
      resolve({ ok: false, error: err.message });
    });
  });
}

function tlsOpts(o: TlsClientOpts): Record<string, unknown> {
  const out: Record<string, unknown> = { ca: o.ca };
  for (const k of ['cert', 'key', 'minVersion', 'maxVersion', 'ciphers', 'servername'] as const) {
    if (o[k] !== undefined) out[k] = o[k];
  }
  return out;
}
