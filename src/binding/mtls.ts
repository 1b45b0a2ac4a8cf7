// RFC 8705 certificate-bound tokens (MTLS-1..MTLS-4): the leaf certificate of this TLS connection
// must hash to cnf.x5t#S256. The chain only matters when a client CA policy is configured.
import { timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.js';
import type { Binding, RequestFacts } from '../types.js';

export function verifyCertificateBinding(facts: RequestFacts, expected: string, requireTrustedChain: boolean): Binding {
  const actual = facts.clientCertThumbprint;
  if (actual === undefined) throw new GatewayError('GW_CERT_MISSING', 'MTLS-2 no client certificate on this connection');
  const a = Buffer.from(actual);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new GatewayError('GW_CERT_MISMATCH', `MTLS-2 certificate x5t#S256 ${actual} does not match cnf`);
  }
  if (facts.clientCertWeakKey !== undefined) {
    throw new GatewayError('GW_CERT_KEY_WEAK', `TLS-7 client certificate key too weak: ${facts.clientCertWeakKey}`);
  }
  if (requireTrustedChain && !facts.clientCertTrusted) {
    throw new GatewayError('GW_CERT_UNTRUSTED', 'MTLS-4 client certificate does not chain to client_ca_file');
  }
  return { kind: 'mtls', thumbprint: actual };
}
