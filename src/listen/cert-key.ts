// TLS-7 (RFC 9325 §4.5) and FAPI2-SP §5.4.1 (2,3): a client certificate's key must be RSA >= 2048 bits
// with a real exponent, or one of the listed elliptic curves. OpenSSL at Node's default security level
// accepts RSA-1024, and the binding (MTLS-2) hashes the certificate without looking at its key.
import type { KeyObject, X509Certificate } from 'node:crypto';

const MIN_RSA_BITS = 2048;
const MIN_RSA_EXPONENT = 65537n;
/** Curves of at least 224 bits that TLS stacks use; anything else (or explicit parameters) is refused. */
const EC_CURVES: ReadonlySet<string> = new Set([
  'prime256v1',
  'secp384r1',
  'secp521r1',
  'secp224r1',
  'secp256k1',
  'brainpoolP224r1',
  'brainpoolP256r1',
  'brainpoolP320r1',
  'brainpoolP384r1',
  'brainpoolP512r1',
]);

/** Why the certificate's key is too weak, or undefined when it is strong enough. */
export function weakKeyOf(cert: X509Certificate): string | undefined {
  let key: KeyObject;
  try {
    key = cert.publicKey;
  } catch {
    // An algorithm or encoding Node's OpenSSL cannot read: nothing shows it is strong.
    return 'key that cannot be read';
  }
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = d?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) return `RSA key of ${bits} bits (at least ${MIN_RSA_BITS})`;
      // With e = 1 the "signature" is the padded message itself: anyone holding the certificate could
      // present it (as the DPoP check, DPOP-5). FIPS 186-5: an odd e >= 65537.
      const e = d?.publicExponent ?? 0n;
      return e >= MIN_RSA_EXPONENT && e % 2n === 1n ? undefined : `RSA key with public exponent ${e} (an odd one >= ${MIN_RSA_EXPONENT})`;
    }
    case 'ec':
      return EC_CURVES.has(d?.namedCurve ?? '') ? undefined : `EC key on ${d?.namedCurve ?? 'unnamed parameters'} (not an accepted curve)`;
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `${key.asymmetricKeyType ?? 'unknown'} key`;
  }
}

/** TLS 1.3 (RFC 8446 §4.2.3) and TLS 1.2 clients sign and verify ECDSA on these curves only. */
const SERVER_EC_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * TLS-6 for the gateway's own certificate: weakKeyOf, and an EC key on a curve TLS signature schemes
 * name (a P-224, secp256k1 or brainpool certificate starts, and then no handshake succeeds).
 */
export function unservableKeyOf(cert: X509Certificate): string | undefined {
  const weak = weakKeyOf(cert);
  if (weak !== undefined) return weak;
  const d = cert.publicKey.asymmetricKeyDetails;
  if (cert.publicKey.asymmetricKeyType === 'ec' && !SERVER_EC_CURVES.has(d?.namedCurve ?? '')) {
    return `EC key on ${d?.namedCurve ?? 'unnamed parameters'}, which no TLS signature scheme uses (P-256, P-384 or P-521)`;
  }
  return undefined;
}
