// JWT-3: verifying a JWS against an issuer's JWKS when more than one published key matches it (a JWS
// without `kid`, RFC 9068 does not require one, or a `kid` published twice). jose then leaves trying
// them to the caller; access tokens and signed introspection answers (INT-7) both need it.
import type { webcrypto } from 'node:crypto';
import { jwtVerify, errors as joseErrors, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';

/** Keys tried for one JWS; more matching keys is a malformed JWKS, not a rotation. */
export const MAX_MATCHING_KEYS = 4;

/**
 * jwtVerify against the key source; if several keys match, each in turn: the first whose signature
 * verifies decides (its claims are checked as usual). A key jose will not use for the algorithm (an
 * RSA key under 2048 bits, say) is skipped, not fatal: another key may have signed.
 */
export async function verifyJwtWithKeys(jwt: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTVerifyResult & { key: unknown }> {
  try {
    return await jwtVerify(jwt, getKey, options);
  } catch (e) {
    if (!(e instanceof joseErrors.JWKSMultipleMatchingKeys)) throw e;
    let n = 0;
    for await (const key of e as unknown as AsyncIterable<webcrypto.CryptoKey>) {
      if (++n > MAX_MATCHING_KEYS) break;
      try {
        return { ...(await jwtVerify(jwt, key, options)), key };
      } catch (again) {
        if (!(again instanceof joseErrors.JWSSignatureVerificationFailed || again instanceof TypeError || again instanceof joseErrors.JOSENotSupported)) throw again;
      }
    }
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
}
