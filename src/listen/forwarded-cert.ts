// MTLS-5: where TLS ends at an ingress or mesh, the client certificate arrives in a header. It is
// believed only from a configured trusted hop (source CIDR, or the hop's own pinned TLS certificate);
// from anyone else the headers are ignored here and stripped before forwarding.
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { weakKeyOf } from './cert-key.js';
import { chainsTo } from './client-chain.js';
import { fieldValues } from './header-fields.js';

export type ForwardedCertHeader = 'client-cert' | 'x-forwarded-client-cert' | 'ssl-client-cert';

export interface ForwardedCertOptions {
  readonly header: ForwardedCertHeader;
  readonly trustedPeers: readonly string[];
  readonly trustedPeerCertificates: readonly string[];
  /** The certificates of `client_ca_file`, when the ecosystem requires a trusted chain (MTLS-4). */
  readonly clientCas: readonly X509Certificate[] | undefined;
}

export interface ForwardedCert {
  readonly thumbprint: string;
  readonly trusted: boolean;
  /** Why the certificate's key is too weak (see weakKeyOf); undefined when strong or not shown. */
  readonly weakKey: string | undefined;
}

const thumb = (der: Buffer): string => createHash('sha256').update(der).digest('base64url');

function pemToDer(pem: string): Buffer | undefined {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  return m === null ? undefined : Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64');
}

function decodeUri(v: string): string | undefined {
  try {
    return decodeURIComponent(v);
  } catch {
    return undefined;
  }
}

/** RFC 9440: `Client-Cert: :<base64 DER>:` (sf-binary). */
function fromClientCert(v: string): { der?: Buffer } {
  const m = /^:([A-Za-z0-9+/]+=*):$/.exec(v.trim());
  return m === null ? {} : { der: Buffer.from(m[1] as string, 'base64') };
}

/**
 * Splits on `sep` outside double quotes, honouring backslash escapes inside them (Envoy quotes values
 * holding `,;=` and escapes their quotes as `\"`: a client's certificate Subject is such a value).
 * Undefined when a quote is left open.
 */
function splitXfcc(v: string, sep: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === sep && !quoted) {
      out.push(v.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  out.push(v.slice(start));
  return out;
}

/** A quoted XFCC value without its quotes and escapes; a bare one as it is. */
function xfccValue(raw: string): string {
  return raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
}

/**
 * Envoy/Istio XFCC: the last element is the nearest hop's client; `Cert="<url-encoded PEM>"` or
 * `Hash=<hex>`. Malformed quoting, or a key given twice in the element, yields no certificate.
 */
function fromXfcc(v: string): { der?: Buffer; hash?: string } {
  const elements = splitXfcc(v, ',');
  const pairs = elements === undefined ? undefined : splitXfcc(elements[elements.length - 1] ?? '', ';');
  if (pairs === undefined) return {};
  const seen = new Set<string>();
  const out: { der?: Buffer; hash?: string } = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i === -1) continue;
    const k = pair.slice(0, i).trim().toLowerCase();
    if (seen.has(k)) return {};
    seen.add(k);
    const raw = xfccValue(pair.slice(i + 1).trim());
    if (k === 'cert') {
      const pem = decodeUri(raw);
      const der = pem === undefined ? undefined : pemToDer(pem);
      if (der !== undefined) out.der = der;
    } else if (k === 'hash' && /^[0-9a-f]{64}$/i.test(raw)) out.hash = Buffer.from(raw, 'hex').toString('base64url');
  }
  return out;
}

/** nginx `$ssl_client_escaped_cert`: URL-encoded PEM. */
function fromNginx(v: string): { der?: Buffer } {
  const pem = decodeUri(v);
  const der = pem === undefined ? undefined : pemToDer(pem);
  return der === undefined ? {} : { der };
}

export class ForwardedCertPolicy {
  private readonly peers = new BlockList();
  private readonly pins: ReadonlySet<string>;

  constructor(private readonly opts: ForwardedCertOptions) {
    for (const cidr of opts.trustedPeers) {
      const [addr, bits] = cidr.split('/') as [string, string | undefined];
      const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
      this.peers.addSubnet(addr, Number(bits ?? (type === 'ipv6' ? 128 : 32)), type);
    }
    this.pins = new Set(opts.trustedPeerCertificates);
  }

  /** Is this connection the trusted hop? By source address, or by the hop's own TLS certificate. */
  trusts(remoteAddress: string, peerThumbprint: string | undefined): boolean {
    const addr = remoteAddress.startsWith('::ffff:') && isIPv4(remoteAddress.slice(7)) ? remoteAddress.slice(7) : remoteAddress;
    const type = isIPv6(addr) ? 'ipv6' : isIPv4(addr) ? 'ipv4' : undefined;
    if (type !== undefined && this.peers.check(addr, type)) return true;
    return peerThumbprint !== undefined && this.pins.has(peerThumbprint);
  }

  /** The end client's certificate as the trusted hop reports it; undefined if absent or unreadable. */
  read(req: IncomingMessage): ForwardedCert | undefined {
    const fields = fieldValues(req, this.opts.header);
    if (fields === undefined || fields.length !== 1) return undefined;
    const v = fields[0] as string;
    const parsed: { der?: Buffer; hash?: string } =
      this.opts.header === 'client-cert' ? fromClientCert(v) : this.opts.header === 'x-forwarded-client-cert' ? fromXfcc(v) : fromNginx(v);
    if (parsed.der !== undefined) return this.fromDer(parsed.der);
    // A hash alone: the key cannot be seen (the hop that terminated TLS vouches for it).
    if (parsed.hash !== undefined) return { thumbprint: parsed.hash, trusted: false, weakKey: undefined };
    return undefined;
  }

  private fromDer(der: Buffer): ForwardedCert {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return { thumbprint: thumb(der), trusted: false, weakKey: 'unreadable certificate' };
    }
    return { thumbprint: thumb(der), trusted: chainsTo(cert, this.opts.clientCas, Date.now()), weakKey: weakKeyOf(cert) };
  }
}
