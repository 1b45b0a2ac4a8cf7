// The signature algorithms of FAPI 2.0 (PS256, ES256, EdDSA/Ed25519) as RFC 9421 §3.3.7 uses JOSE
// algorithms: RSA-PSS with SHA-256 and a 32-byte salt, ECDSA P-256 as r||s, pure Ed25519.
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import type { FAPI_ALGS } from '../config/schema.js';

export type SigningAlg = (typeof FAPI_ALGS)[number];

/** RFC 9421 §6.2 names of the same algorithm as a key's JWK `alg` (PS256, RSA-PSS as JOSE has it, has none). */
export const RFC9421_NAME: Readonly<Record<SigningAlg, string | undefined>> = { PS256: undefined, ES256: 'ecdsa-p256-sha256', EdDSA: 'ed25519', Ed25519: 'ed25519' };

/** Why `key` (public or private) cannot be used with `alg`, or undefined. */
export function keyProblem(key: KeyObject, alg: SigningAlg): string | undefined {
  const type = key.asymmetricKeyType;
  if (alg === 'PS256') {
    if (type !== 'rsa') return `alg ${alg} needs kty RSA`;
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return 'RSA keys need at least 2048 bits';
    return undefined;
  }
  if (alg === 'ES256') return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? undefined : `alg ${alg} needs kty EC and crv P-256`;
  return type === 'ed25519' ? undefined : `alg ${alg} needs kty OKP and crv Ed25519`;
}

export function createSignature(alg: SigningAlg, key: KeyObject, data: Buffer): Buffer {
  switch (alg) {
    case 'PS256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
    case 'Ed25519':
      return sign(null, data, key);
  }
}

export function verifySignature(alg: SigningAlg, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (alg) {
      case 'PS256':
        return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
      case 'ES256':
        return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'EdDSA':
      case 'Ed25519':
        return verify(null, data, key, signature);
    }
  } catch {
    // OpenSSL refuses some malformed signatures (a wrong length) instead of answering false.
    return false;
  }
}
