// Builds RequestFacts once per request: interaction id (HDR-1, Q-8), normalised target, host, and the
// client certificate thumbprint, computed once per TLS connection (MTLS-2, TLS-12).
import { createHash, randomUUID, type X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors/gateway-error.js';
import { fieldValues } from './header-fields.js';
import { normaliseTarget } from '../route/normalize-path.js';
import { HOST_FIELD_RE } from '../uri-host.js';
import { weakKeyOf } from './cert-key.js';
import { chainsTo, widens, type ClientTrust } from './client-chain.js';
import type { ForwardedCertPolicy } from './forwarded-cert.js';
import type { RequestFacts } from '../types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Set on each TLS connection at its handshake: the id of the client CAs it was verified against. */
export const kHandshakeTrust = Symbol('fapi.handshakeTrust');
type ApiSocket = TLSSocket & { [kHandshakeTrust]?: string };

interface PeerCert {
  readonly thumbprint: string | undefined;
  readonly trusted: boolean;
  readonly weakKey: string | undefined;
}

/** What one connection's certificate is, computed once; whether it is trusted depends on when and under which CAs. */
interface PeerEntry {
  readonly thumbprint: string | undefined;
  readonly weakKey: string | undefined;
  readonly leaf: X509Certificate | undefined;
  readonly validFromMs: number;
  readonly validToMs: number;
  /** The trust decision and the CAs it was made under (OpenSSL's at the handshake, or ours since). */
  trustId: string | undefined;
  chained: boolean;
}
const peerCerts = new WeakMap<TLSSocket, PeerEntry>();
const NO_CERT: PeerCert = { thumbprint: undefined, trusted: false, weakKey: undefined };

/**
 * The connection's certificate thumbprint (MTLS-2, once per connection) and whether it chains to the
 * client CAs in force now (MTLS-4): OpenSSL's verdict from the handshake while the CAs are the ones it
 * used, re-checked here after a reload changed them; and never past the certificate's validity (a
 * resumed TLS session keeps its original verdict for the ticket's lifetime).
 */
export function peerCertificate(socket: TLSSocket, trust: ClientTrust, nowMs: number = Date.now()): PeerCert {
  let e = peerCerts.get(socket);
  if (e === undefined) {
    const leaf = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
    e = {
      thumbprint: leaf === undefined ? undefined : createHash('sha256').update(leaf.raw).digest('base64url'),
      weakKey: leaf === undefined ? undefined : weakKeyOf(leaf),
      leaf,
      validFromMs: leaf === undefined ? 0 : Date.parse(leaf.validFrom),
      validToMs: leaf === undefined ? 0 : Date.parse(leaf.validTo),
      trustId: (socket as ApiSocket)[kHandshakeTrust],
      chained: socket.authorized === true,
    };
    peerCerts.set(socket, e);
  }
  if (e.leaf === undefined) return NO_CERT;
  if (e.trustId !== trust.id) {
    // Kept when only CAs were added (the intermediates the client sent are not visible here), else judged again.
    e.chained = (e.chained && widens(trust, e.trustId)) || chainsTo(e.leaf, trust.cas, nowMs);
    e.trustId = trust.id;
  }
  return { thumbprint: e.thumbprint, trusted: e.chained && e.validFromMs <= nowMs && nowMs < e.validToMs, weakKey: e.weakKey };
}

/**
 * TLS-9, PRM-6: `tls.client_certificate: required` for an API request: the handshake lets connections
 * without one in while metadata is served to them, and a connection outlives a reload. The connection's
 * own certificate, never a forwarded one: with client CAs, one that chains to them now (as the handshake
 * would have checked); without, any.
 */
export function requiredCertificateMissing(socket: TLSSocket, trust: ClientTrust): GatewayError | undefined {
  const pc = peerCertificate(socket, trust);
  if (pc.thumbprint === undefined) return new GatewayError('GW_CLIENT_CERT_REQUIRED', 'TLS-9 tls.client_certificate: required, and the client sent none');
  if (trust.cas === undefined || pc.trusted) return undefined;
  const why = socket.authorizationError == null ? 'not within its validity period, or not issued by the client CAs in force' : String(socket.authorizationError);
  return new GatewayError('GW_CLIENT_CERT_REQUIRED', `TLS-9 tls.client_certificate: required, and the client certificate is not trusted: ${why}`);
}

/** a UUID is echoed; anything else is replaced by a fresh one, and the original kept (sanitised) for the log. */
export function interactionIdOf(req: IncomingMessage): { readonly id: string; readonly replaced?: string } {
  const sent = fieldValues(req, 'x-fapi-interaction-id');
  if (sent === undefined) return { id: randomUUID() };
  const v = sent.length === 1 ? (sent[0] as string) : sent.join(',');
  if (UUID.test(v)) return { id: v };
  return { id: randomUUID(), replaced: v.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 128) };
}

export function hostOf(req: IncomingMessage): string {
  const h = (req.headers.host ?? '').toLowerCase();
  return h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : (h.split(':', 1)[0] as string);
}

export function requestFacts(
  req: IncomingMessage,
  interactionId: string,
  replaced: string | undefined,
  maxHeaders: number,
  trust: ClientTrust,
  forwarded: ForwardedCertPolicy | undefined,
): RequestFacts {
  // Node's own maxHeadersCount silently drops extra fields (a second Authorization among them): count here.
  if (req.rawHeaders.length / 2 > maxHeaders) throw new GatewayError('GW_HEADERS_TOO_LARGE', `HDR-16 ${req.rawHeaders.length / 2} header fields`);
  // HTTP/1.x only: Node also parses a version-less (HTTP/0.9-style) request line with headers.
  if (req.httpVersionMajor !== 1) throw new GatewayError('GW_BAD_REQUEST', `HTTP/${req.httpVersion} request`);
  // RFC 9112 §3.2: exactly one Host.
  const hosts = fieldValues(req, 'host');
  if (hosts === undefined || hosts.length !== 1) throw new GatewayError('GW_BAD_REQUEST', `RFC 9112 ${hosts === undefined ? 'no' : hosts.length} Host fields`);
  // ... with a valid value: `api.test:1@evil.example` would match a host route and be passed on as sent.
  if (!HOST_FIELD_RE.test(hosts[0] as string)) throw new GatewayError('GW_BAD_REQUEST', 'RFC 9112 §3.2 Host is not uri-host[:port]');
  const target = normaliseTarget(req.url ?? '');
  if (!target.ok) throw new GatewayError('GW_PATH_AMBIGUOUS', `path refused: ${target.reason}`);
  let pc: PeerCert = peerCertificate(req.socket as TLSSocket, trust);
  // MTLS-5: behind a trusted TLS-terminating hop, the end client's certificate comes in a header.
  if (forwarded !== undefined && forwarded.trusts(req.socket.remoteAddress ?? '', pc.thumbprint)) {
    pc = forwarded.read(req) ?? NO_CERT;
  }
  return {
    req,
    interactionId,
    replacedInteractionId: replaced,
    method: req.method ?? '',
    path: target.path,
    query: target.query,
    host: hostOf(req),
    remoteAddress: req.socket.remoteAddress ?? '',
    clientCertThumbprint: pc.thumbprint,
    clientCertTrusted: pc.trusted,
    clientCertWeakKey: pc.weakKey,
  };
}
