// How the gateway authenticates itself to an AS when it introspects (INT-1, FAPI2-SP §5.3.2.1 (6)):
// private_key_jwt (RFC 7523, a fresh assertion per call), tls_client_auth (RFC 8705 §2, the client
// certificate on the TLS connection) or client_secret_basic (RFC 6749 §2.3.1, non-FAPI only).
import { createPrivateKey, randomUUID, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { SignJWT } from 'jose';

export type ClientAuthMethod = 'private_key_jwt' | 'tls_client_auth' | 'client_secret_basic';
export type AssertionAlg = 'PS256' | 'ES256' | 'EdDSA';

/** What one request carries to authenticate the gateway. */
export interface ClientCredentials {
  /** Extra form parameters (client_id, client_assertion_type, client_assertion). */
  readonly form: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ClientAuthentication {
  readonly method: ClientAuthMethod;
  readonly clientId: string;
  /** The gateway's client certificate and key for the outbound TLS connection (tls_client_auth). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Credentials for one request; a private_key_jwt assertion is never reused. */
  credentials(nowS: number): Promise<ClientCredentials>;
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ASSERTION_LIFETIME_S = 60;

/** RFC 7523 §2.2 / §3: iss = sub = client_id, aud = the AS issuer identifier (FAPI 2.0), jti, iat, exp. */
export function privateKeyJwt(clientId: string, signingKey: SigningKey, audience: string): ClientAuthentication {
  return {
    method: 'private_key_jwt',
    clientId,
    async credentials(nowS) {
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: signingKey.alg, ...(signingKey.kid !== undefined && { kid: signingKey.kid }) })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(audience)
        .setJti(randomUUID())
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + ASSERTION_LIFETIME_S)
        .sign(signingKey.key);
      return { form: { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion }, headers: {} };
    },
  };
}

/** RFC 8705 §2: the certificate authenticates; client_id names the client in the body. */
export function tlsClientAuth(clientId: string, cert: string, key: string): ClientAuthentication {
  // Fail at start, not on the first request, when the key does not belong to the certificate. OpenSSL
  // takes a key of another type than the certificate's without a word (createSecureContext alone passes).
  createSecureContext({ cert, key });
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('tls_client_auth: key_file does not belong to the certificate in cert_file');
  const credentials: ClientCredentials = { form: { client_id: clientId }, headers: {} };
  return { method: 'tls_client_auth', clientId, tls: { cert, key }, credentials: async () => credentials };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
export function clientSecretBasic(clientId: string, secret: string): ClientAuthentication {
  const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`, 'utf8').toString('base64');
  const credentials: ClientCredentials = { form: {}, headers: { authorization: `Basic ${basic}` } };
  return { method: 'client_secret_basic', clientId, credentials: async () => credentials };
}

/** application/x-www-form-urlencoded encoding of one value (space as `+`). */
export const formEncode = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2);

// ---- the private_key_jwt signing key ----------------------------------------------------------

export interface SigningKey {
  readonly key: KeyObject;
  readonly alg: AssertionAlg;
  /** From a JWK file's `kid`; a PEM key carries none (the AS then picks by alg). */
  readonly kid: string | undefined;
}

/** The alg each key type can sign with under the FAPI allow-list (FAPI2-SP §5.4.1). */
function algsOf(key: KeyObject): readonly AssertionAlg[] {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return (d?.modulusLength ?? 0) >= 2048 ? ['PS256'] : [];
    case 'ec':
      return d?.namedCurve === 'prime256v1' ? ['ES256'] : [];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** A private key from PEM (PKCS#8) or JWK JSON text, checked against the FAPI algorithms. */
export function loadSigningKey(text: string, alg?: AssertionAlg): SigningKey {
  let key: KeyObject;
  let kid: string | undefined;
  let jwkAlg: string | undefined;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let jwk: Record<string, unknown>;
    try {
      jwk = JSON.parse(trimmed) as Record<string, unknown>;
    } catch {
      // Not the parser's message: it quotes the text around the error, which is key material here.
      throw new Error('the JWK is not valid JSON');
    }
    if (typeof jwk.d !== 'string') throw new Error('the JWK is not a private key');
    key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
    jwkAlg = typeof jwk.alg === 'string' ? jwk.alg : undefined;
  } else {
    if (!trimmed.includes('-----BEGIN PRIVATE KEY-----')) throw new Error('expected a PEM PKCS#8 private key (BEGIN PRIVATE KEY) or a JWK');
    key = createPrivateKey(trimmed);
  }
  const possible = algsOf(key);
  const chosen = alg ?? (jwkAlg as AssertionAlg | undefined) ?? possible[0];
  if (chosen === undefined || !possible.includes(chosen)) {
    throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key cannot sign ${chosen ?? 'any FAPI algorithm'} (PS256 needs RSA >= 2048, ES256 P-256, EdDSA Ed25519)`);
  }
  if (jwkAlg !== undefined && jwkAlg !== chosen) throw new Error(`the JWK says alg ${jwkAlg}, the config ${chosen}`);
  return { key, alg: chosen, kid };
}
