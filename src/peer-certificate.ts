// Node 24's TLSSocket getPeerCertificate method (X509ToObject) dereferences a NULL curve name for an EC key on
// a curve without a NIST name (brainpool, secp256k1): the process dies with SIGSEGV. Node's own TLS client
// calls it on every verified handshake (onConnectSecure -> checkServerIdentity), with the chain and the
// trust store's root, so an upstream, issuer, JWKS or Redis host whose chain holds such a key (BSI-minded
// banks use brainpool) would crash the gateway. This replaces it, process-wide, with the same object
// built from X509Certificate, which reads such keys safely. The key fields (pubkey, bits, modulus,
// exponent, asn1Curve, nistCurve) are left out: reading them is what crashes, and nothing here needs them.
import type { X509Certificate } from 'node:crypto';
import { TLSSocket, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';

const kGuarded = Symbol.for('fapi-gateway.peer-certificate-guard');

/**
 * On a client socket, Node 24 hands the peer's certificate out once: a second getPeerX509Certificate()
 * returns undefined. The first one, kept here, answers every later call (Node's own check is the first).
 */
const clientPeers = new WeakMap<TLSSocket, X509Certificate>();

/** Idempotent: installs the safe getPeerCertificate() on every TLS socket of this process. */
export function guardPeerCertificates(): void {
  const proto = TLSSocket.prototype as TLSSocket & { [kGuarded]?: true };
  if (proto[kGuarded] === true) return;
  const peerX509 = proto.getPeerX509Certificate;
  proto.getPeerX509Certificate = function getPeerX509Certificate(this: TLSSocket) {
    const kept = clientPeers.get(this);
    if (kept !== undefined) return kept;
    const x = peerX509.call(this);
    if (x !== undefined && (this as unknown as { _tlsOptions?: { isServer?: boolean } })._tlsOptions?.isServer !== true) clientPeers.set(this, x);
    return x;
  };
  proto.getPeerCertificate = function getPeerCertificate(this: TLSSocket, detailed?: boolean) {
    // As Node: null without a handle (destroyed), {} when the peer sent no certificate.
    if (!(this as unknown as { _handle?: unknown })._handle) return null as unknown as PeerCertificate;
    const leaf = this.getPeerX509Certificate();
    if (leaf === undefined) return {} as PeerCertificate;
    return detailed === true ? detailedObject(leaf) : certificateObject(leaf);
  } as TLSSocket['getPeerCertificate'];
  proto[kGuarded] = true;
}

/** The legacy object for one certificate, as X509Certificate.toLegacyObject() gives it less the key fields. */
export function certificateObject(x: X509Certificate): PeerCertificate {
  const o: Record<string, unknown> = {
    subject: nameObject(x.subject),
    issuer: nameObject(x.issuer),
  };
  if (x.subjectAltName !== undefined) o.subjectaltname = x.subjectAltName;
  if (x.infoAccess !== undefined) o.infoAccess = listObject(x.infoAccess);
  o.ca = x.ca;
  o.valid_from = x.validFrom;
  o.valid_to = x.validTo;
  o.fingerprint = x.fingerprint;
  o.fingerprint256 = x.fingerprint256;
  o.fingerprint512 = x.fingerprint512;
  if (x.keyUsage !== undefined) o.ext_key_usage = x.keyUsage;
  o.serialNumber = x.serialNumber;
  o.raw = x.raw;
  return o as unknown as PeerCertificate;
}

/** The chain as the peer sent it (Node would also add the trust store's root); a self-issued end points at itself. */
function detailedObject(leaf: X509Certificate): DetailedPeerCertificate {
  const top = certificateObject(leaf) as DetailedPeerCertificate;
  let cur = top;
  let x = leaf;
  for (let depth = 0; depth < 16; depth++) {
    if (x.checkIssued(x)) {
      cur.issuerCertificate = cur;
      break;
    }
    const up = x.issuerCertificate;
    if (up === undefined) break;
    const next = certificateObject(up) as DetailedPeerCertificate;
    cur.issuerCertificate = next;
    cur = next;
    x = up;
  }
  return top;
}

/** "CN=a\nOU=b\nOU=c" (RFC 2253 escapes, one attribute a line) -> { CN: 'a', OU: ['b', 'c'] }. */
function nameObject(text: string): Record<string, string | string[]> {
  return listObject(text, '=', unescape2253, false);
}

function listObject(text: string, sep = ':', value = (v: string) => v, arrays = true): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const line of text.split('\n')) {
    const at = line.indexOf(sep);
    if (at <= 0) continue;
    const key = line.slice(0, at);
    const v = value(line.slice(at + 1));
    const had = out[key];
    if (had === undefined) out[key] = arrays ? [v] : v;
    else if (Array.isArray(had)) had.push(v);
    else out[key] = [had, v];
  }
  return out;
}

function unescape2253(v: string): string {
  if (!v.includes('\\')) return v;
  return v.replace(/\\([0-9A-Fa-f]{2}|[\s\S])/g, (_, c: string) => (c.length === 2 ? String.fromCharCode(parseInt(c, 16)) : c));
}
