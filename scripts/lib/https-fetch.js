// A fetch()-compatible function over node:https, for openid-client / oauth4webapi's `customFetch`:
// the TPP's own TLS settings (trusted CA, optional client certificate for tls_client_auth and
// mTLS-bound calls) and a `--connect-to` style map so a public origin such as https://api.bank.example
// reaches a loopback port. Every request it sends is recorded, so a test can look at (or replay) the
// exact headers the client library produced, DPoP proof included.
import { request } from 'node:https';
import { isIP } from 'node:net';

/** The body types oauth4webapi hands to customFetch, as bytes (or undefined). */
async function bodyBytes(body) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.from(await new Response(body).arrayBuffer());
}

function headerPairs(headers) {
  if (headers === undefined || headers === null) return [];
  if (headers instanceof Headers) return [...headers.entries()];
  if (Array.isArray(headers)) return headers.map(([n, v]) => [String(n), String(v)]);
  return Object.entries(headers).map(([n, v]) => [n, String(v)]);
}

/**
 * @param {object} opts
 * @param {string} opts.ca            PEM trusted for the servers' certificates
 * @param {string} [opts.cert]        client certificate (PEM) presented on every connection
 * @param {string} [opts.key]         its private key (PEM)
 * @param {Record<string, {host: string, port: number, servername?: string}>} [opts.connectTo]
 *   keyed by URL host (`api.bank.example` or `api.bank.example:443`): where to connect instead
 */
export function createHttpsFetch(opts) {
  /** @type {{ url: string, method: string, headers: [string, string][], body: Buffer | undefined }[]} */
  const sent = [];

  /** Send one request exactly as given (used for fetch() and for replaying a captured request). */
  function send(url, method, headers, body) {
    const u = new URL(url);
    if (u.protocol !== 'https:') return Promise.reject(new TypeError(`https only: ${u.origin}`));
    const target = opts.connectTo?.[u.host] ?? opts.connectTo?.[u.hostname];
    const servername = target?.servername ?? u.hostname;
    const raw = [];
    if (!headers.some(([n]) => n.toLowerCase() === 'host')) raw.push('Host', u.host);
    for (const [n, v] of headers) raw.push(n, v);
    if (body !== undefined && !headers.some(([n]) => n.toLowerCase() === 'content-length')) raw.push('Content-Length', String(body.length));
    sent.push({ url: u.href, method, headers, body });
    return new Promise((resolve, reject) => {
      const req = request({
        protocol: 'https:',
        host: target?.host ?? u.hostname,
        port: target?.port ?? (u.port === '' ? 443 : Number(u.port)),
        // SNI carries host names only (RFC 6066); an IP address is checked against the certificate's IP SANs.
        ...(isIP(servername) === 0 && { servername }),
        path: `${u.pathname}${u.search}`,
        method,
        headers: raw,
        ca: opts.ca,
        ...(opts.cert !== undefined && { cert: opts.cert, key: opts.key }),
        // A fresh TLS connection per request: the certificate presented is exactly this client's.
        agent: false,
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 0;
          const buf = Buffer.concat(chunks);
          const noBody = status === 204 || status === 304 || method === 'HEAD';
          resolve(new Response(noBody ? null : buf, { status, statusText: res.statusMessage ?? '', headers: h }));
        });
      });
      req.end(body);
    });
  }

  /** fetch(url, init) as oauth4webapi calls it: url string, init with method, headers, body. */
  async function fetchImpl(input, init = {}) {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    init.signal?.throwIfAborted();
    return send(url, init.method ?? 'GET', headerPairs(init.headers), await bodyBytes(init.body));
  }

  return Object.assign(fetchImpl, {
    /** Every request sent so far, oldest first. */
    sent,
    /** Send a previously captured request again, byte for byte (a replay attack). */
    replay: (captured) => send(captured.url, captured.method, captured.headers, captured.body),
  });
}
