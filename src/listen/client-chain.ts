// MTLS-4 without OpenSSL's handshake: whether a client certificate chains to `client_ca_file`. Used for
// certificates from a trusted hop (MTLS-5), and for connections whose handshake was verified against
// another CA than the one in force now (a reload) or whose verification is older than the certificate's
// validity (a resumed TLS session keeps its original result).
import { createHash, X509Certificate } from 'node:crypto';
import { readCaBundle, type LoadedConfig } from '../config/load.js';

/** The client CAs in force, and an id that changes when they do. */
export interface ClientTrust {
  readonly id: string;
  readonly cas: readonly X509Certificate[] | undefined;
}

export function clientTrust(loaded: LoadedConfig): ClientTrust {
  const file = loaded.config.server.tls.client_ca_file;
  if (file === undefined) return { id: 'none', cas: undefined };
  // A CA file may list several certificates.
  const { pem, certificates } = readCaBundle(loaded, file, 'server.tls.client_ca_file');
  const id = createHash('sha256').update(pem).digest('base64url');
  rememberAnchors(id, certificates);
  return { id, cas: certificates };
}

/** The anchors of the last few client-CA sets by id: a chain verified under one holds under a superset. */
const recentAnchors = new Map<string, ReadonlySet<string>>();
const RECENT_TRUSTS = 16;
function rememberAnchors(id: string, cas: readonly X509Certificate[]): void {
  recentAnchors.delete(id);
  recentAnchors.set(id, new Set(cas.map((c) => c.fingerprint256)));
  for (const old of recentAnchors.keys()) {
    if (recentAnchors.size <= RECENT_TRUSTS) break;
    recentAnchors.delete(old);
  }
}

/**
 * MTLS-4 after a reload: the CAs in force include every CA of `fromId` (a CA was added, none removed),
 * so a verdict reached under `fromId` (OpenSSL's, with the intermediates the client sent) still holds.
 */
export function widens(trust: ClientTrust, fromId: string | undefined): boolean {
  const before = fromId === undefined ? undefined : recentAnchors.get(fromId);
  const now = recentAnchors.get(trust.id);
  if (before === undefined || now === undefined) return false;
  for (const f of before) if (!now.has(f)) return false;
  return true;
}

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_ANY = '2.5.29.37.0';
/** No extended key usage means any use; otherwise clientAuth (or anyExtendedKeyUsage) must be listed. */
function clientAuthAllowed(cert: X509Certificate): boolean {
  const eku = cert.keyUsage as string[] | undefined;
  return eku === undefined || eku.length === 0 || eku.includes(EKU_CLIENT_AUTH) || eku.includes(EKU_ANY);
}

/** Within its validity period now (both ends). */
export function currentlyValid(cert: X509Certificate, nowMs: number): boolean {
  return Date.parse(cert.validFrom) <= nowMs && Date.parse(cert.validTo) > nowMs;
}

/** `cert` is issued and signed by `issuer`. */
function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * What OpenSSL checks on a direct TLS connection: issuer, signature, validity (both ends), that the
 * issuer is a CA (basicConstraints cA) and, when the certificate restricts its use, that TLS client
 * authentication is among them. Any certificate of the file may be the issuer. Intermediates are not
 * looked for: a forwarded certificate comes alone, and Node does not expose the chain a TLS client sent
 * to a server.
 */
export function chainsTo(leaf: X509Certificate, cas: readonly X509Certificate[] | undefined, nowMs: number): boolean {
  if (cas === undefined) return false;
  try {
    // The certificate itself in the file (a pinned self-signed client) is an anchor OpenSSL accepts without cA.
    return currentlyValid(leaf, nowMs) && clientAuthAllowed(leaf) && cas.some((ca) => (ca.ca || ca.raw.equals(leaf.raw)) && currentlyValid(ca, nowMs) && signedBy(leaf, ca));
  } catch {
    return false;
  }
}
