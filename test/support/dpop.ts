// DPoP proofs built by a real signer (jose), for integration and conformance tests.
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface DpopKey {
  readonly alg: 'ES256' | 'PS256' | 'EdDSA' | 'RS256';
  readonly privateKey: webcrypto.CryptoKey;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
  readonly jkt: string;
}

export async function dpopKey(alg: DpopKey['alg'] = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk) };
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url');

export interface ProofOptions {
  readonly htm: string;
  readonly htu: string;
  /** The access token, for `ath`. */
  readonly token?: string;
  /** Claim overrides; `undefined` removes a claim. */
  readonly claims?: Record<string, unknown>;
  /** Header overrides; `undefined` removes a parameter. */
  readonly header?: Record<string, unknown>;
  /** Sign with this key (e.g. a thief's) instead of `key`. */
  readonly signWith?: webcrypto.CryptoKey;
  readonly alg?: string;
}

const prune = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export async function proof(key: DpopKey, o: ProofOptions): Promise<string> {
  const claims = prune({
    jti: randomUUID(),
    htm: o.htm,
    htu: o.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(o.token === undefined ? {} : { ath: ath(o.token) }),
    ...o.claims,
  });
  const header = prune({ typ: 'dpop+jwt', alg: o.alg ?? key.alg, jwk: key.publicJwk, ...o.header });
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(o.signWith ?? key.privateKey);
}
