// Outbound HTTPS for metadata, JWKS and introspection (TLS-11): TLS 1.2+, server certificate always verified,
// optional extra CA bundle, hard timeout, bounded body. Never follows redirects.
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';

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

export function httpsRequest(
  url: string,
  opts: HttpClientOptions & { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer },
): Promise<OutboundResponse> {
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'https:') {
      reject(new OutboundError(`refusing non-https URL ${u.origin}`));
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
        ca: opts.ca && opts.ca.length > 0 ? [...rootCertificates, ...opts.ca] : undefined,
        timeout: opts.timeoutMs,
        ...(opts.cert !== undefined && opts.key !== undefined && { cert: opts.cert, key: opts.key }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) fail(new OutboundError(`response from ${u.origin} over ${maxBytes} bytes`));
          else if (!settled) chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => fail(new OutboundError(`${u.origin}: ${e.message}`)));
      },
    );
    const timedOut = (): void => fail(new OutboundError(`${u.origin} timed out after ${opts.timeoutMs} ms`));
    const timer = setTimeout(timedOut, opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', timedOut);
    req.on('error', (e) => fail(new OutboundError(`${u.origin}: ${e.message}`)));
    req.end(opts.body);
  });
}

export async function getJson(url: string, opts: HttpClientOptions): Promise<unknown> {
  const res = await httpsRequest(url, opts);
  if (res.status !== 200) throw new OutboundError(`${new URL(url).origin} answered ${res.status}`);
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    throw new OutboundError(`${new URL(url).origin} answered with a body that is not JSON`);
  }
}
