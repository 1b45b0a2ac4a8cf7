// Outbound HTTPS for metadata, JWKS and introspection (TLS-11): TLS 1.2+, server certificate always verified,
// optional extra CA bundle, hard timeout, bounded body. Never follows redirects.
import { Agent, request } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';

export interface HttpClientOptions {
  /** Extra trusted CA PEMs, added to the system roots. */
  readonly ca?: readonly string[];
  readonly timeoutMs: number;
  readonly maxBytes?: number;
  /** Client certificate chain and key (PEM) presented on the TLS connection (RFC 8705 tls_client_auth). */
  readonly cert?: string;
  readonly key?: string;
}

export class OutboundError extends Error {
  override readonly name = 'OutboundError';
}

export interface OutboundResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * One agent, with its TLS context built once, per trust and client-certificate setting: building the
 * context loads ~120 root certificates (7-17 ms of one core), which per connection stalls the event
 * loop when many documents are fetched at once. An agent of its own, since the default one would pool
 * a connection verified under one setting for a request made under another. Keep-alive as Node's
 * default agent (introspection calls on cache misses reuse their connection; idle sockets are unref'd
 * and close after 5 s). Bounded: config changes leave at most a few stale ones behind.
 */
const agents = new Map<string, Agent>();
const MAX_AGENTS = 64;

function agentFor(opts: HttpClientOptions): Agent | undefined {
  const extraCa = opts.ca !== undefined && opts.ca.length > 0;
  const cert = opts.cert !== undefined && opts.key !== undefined;
  if (!extraCa && !cert) return undefined;
  const id = JSON.stringify([opts.ca ?? [], cert ? opts.cert : '', cert ? opts.key : '']);
  let agent = agents.get(id);
  if (agent === undefined) {
    if (agents.size >= MAX_AGENTS) agents.clear();
    const secureContext = createSecureContext({
      minVersion: 'TLSv1.2',
      ...(extraCa && { ca: [...rootCertificates, ...(opts.ca as readonly string[])] }),
      ...(cert && { cert: opts.cert, key: opts.key }),
    });
    agent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000, secureContext });
    agents.set(id, agent);
  }
  return agent;
}

export function httpsRequest(
  url: string,
  opts: HttpClientOptions & { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer },
): Promise<OutboundResponse> {
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // In every message: cut, since a discovered URL is the remote side's choice (a 200 KB host name).
    const origin = u.origin.slice(0, 200);
    if (u.protocol !== 'https:') {
      reject(new OutboundError(`refusing non-https URL ${origin}`));
      return;
    }
    // Settled once. The request is destroyed without an error: one given to destroy() after the response
    // ended (a body over the limit in one TLS record) would be thrown with no listener, ending the process.
    let settled = false;
    const fail = (e: OutboundError): void => {
      if (settled) return;
      settled = true;
      reject(e);
      req.destroy();
    };
    const req = request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { accept: 'application/json', ...opts.headers },
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
        agent: agentFor(opts),
        timeout: opts.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) fail(new OutboundError(`response from ${origin} over ${maxBytes} bytes`));
          else if (!settled) chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => fail(new OutboundError(`${origin}: ${e.message}`)));
      },
    );
    const timedOut = (): void => fail(new OutboundError(`${origin} timed out after ${opts.timeoutMs} ms`));
    const timer = setTimeout(timedOut, opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', timedOut);
    // Cut: a wrong certificate's message lists every name it holds (thousands on a shared CDN certificate).
    req.on('error', (e) => fail(new OutboundError(`${origin}: ${e.message.slice(0, 300)}`)));
    req.end(opts.body);
  });
}

/** Keys fetched more recently than this are not fetched again for an unknown kid (issuer and client JWKS). */
export const JWKS_MISS_MIN_AGE_MS = 1000;

/** More keys than any signer publishes: a document with more is refused before each is looked at. */
export const MAX_JWKS_KEYS = 100;

/** A JWKS document's `keys`, at most MAX_JWKS_KEYS of them (a huge list would hold the event loop). */
export async function getJwksKeys(url: string, opts: HttpClientOptions): Promise<unknown[]> {
  const jwks = await getJson(url, opts);
  const keys = typeof jwks === 'object' && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new OutboundError('JWKS has no keys array');
  if (keys.length > MAX_JWKS_KEYS) throw new OutboundError(`JWKS has ${keys.length} keys, more than ${MAX_JWKS_KEYS}`);
  return keys;
}

export async function getJson(url: string, opts: HttpClientOptions): Promise<unknown> {
  const res = await httpsRequest(url, opts);
  if (res.status !== 200) throw new OutboundError(`${new URL(url).origin.slice(0, 200)} answered ${res.status}`);
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    throw new OutboundError(`${new URL(url).origin.slice(0, 200)} answered with a body that is not JSON`);
  }
}
