// TLS-7 (RFC 9325 §4.5) and FAPI2-SP §5.4.1 (2,3): a client certificate's key must be RSA >= 2048 bits
// or an elliptic curve of >= 224 bits. OpenSSL at Node's default security level accepts RSA-1024, and
// the binding (MTLS-2) hashes the certificate without looking at its key, so it is checked here.
import type { X509Certificate } from 'node:crypto';

const MIN_RSA_BITS = 2048;
const MIN_EC_BITS = 224;

/** Why the certificate's key is too weak, or undefined when it is strong enough. */
export function weakKeyOf(cert: X509Certificate): string | undefined {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails;
  switch (type) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = d?.modulusLength ?? 0;
      return bits >= MIN_RSA_BITS ? undefined : `RSA key of ${bits} bits (at least ${MIN_RSA_BITS})`;
    }
    case 'ec': {
      // Curve names carry their size: prime192v1, secp256r1, brainpoolP320r1, sect163k1.
      const bits = Number(/\d{3}/.exec(d?.namedCurve ?? '')?.[0] ?? Number.NaN);
      return Number.isNaN(bits) || bits >= MIN_EC_BITS ? undefined : `EC key on ${d?.namedCurve} (at least ${MIN_EC_BITS} bits)`;
    }
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `${type ?? 'unknown'} key`;
  }
}
