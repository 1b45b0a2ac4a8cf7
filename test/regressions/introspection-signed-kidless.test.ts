// Found in review (fixed; the test failed before): INT-7 signed introspection answers go through jose with the issuer's JWKS, like JWT access
// tokens, but without the JWT-3 "try each matching key" fix (src/token/verify-jws.ts). An
// answer without `kid` (RFC 9701 does not require one) from an AS publishing two keys of one type
// (a rotation) is refused with 503, for every token of the issuer, and counts toward the breaker.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { clientSecretBasic } from '../../src/token/client-auth.js';
import { Introspector, JWT_RESPONSE_TYPE, type Transport } from '../../src/token/introspection.js';
import { sha256Hex } from '../../src/token/jwt-validator.js';
import { AUD, ISSUER, issuerConfig } from '../unit/token/introspection-fixtures.js';

const X5T = 'A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0';

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof GatewayError) return `${e.status} ${e.code}: ${e.message}`;
    throw e;
  }
}

describe('INT-7 signed answer without kid, AS publishing two ES256 keys', () => {
  it('an answer signed by the second published key is accepted (like a kid-less JWT access token)', async () => {
    const k1 = await generateKeyPair('ES256');
    const k2 = await generateKeyPair('ES256');
    const jwks: { keys: JWK[] } = {
      keys: [
        { ...(await exportJWK(k1.publicKey)), kid: 'as-1', alg: 'ES256' },
        { ...(await exportJWK(k2.publicKey)), kid: 'as-2', alg: 'ES256' },
      ],
    };
    const nowS = Math.floor(Date.now() / 1000);
    const answer = { active: true, iss: ISSUER, aud: AUD, sub: 'alice', client_id: 'tpp', scope: 'accounts', exp: nowS + 300, iat: nowS, cnf: { 'x5t#S256': X5T } };
    const body = await new SignJWT({ token_introspection: answer })
      .setProtectedHeader({ alg: 'ES256', typ: 'token-introspection+jwt' })
      .setIssuer(ISSUER)
      .setAudience('gw')
      .setIssuedAt(nowS)
      .sign(k2.privateKey);
    const transport: Transport = async () => ({ status: 200, contentType: JWT_RESPONSE_TYPE, body: Buffer.from(body) });
    const i = new Introspector(
      { name: 'as', config: issuerConfig({ signed_response: true }), keys: { getKey: createLocalJWKSet(jwks) as never } },
      { auth: clientSecretBasic('gw', 'secret'), transport },
    );
    expect(await outcome(i.introspect('opaque-1', sha256Hex('opaque-1')))).toBe('ok');
  });
});
