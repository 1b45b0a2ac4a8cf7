// Found in review (fixed; the test failed before): JWT-3/JWT-5, verifyJwtWithKeys (src/token/verify-jws.ts): for a token several JWKS keys match,
// only JWSSignatureVerificationFailed moves on to the next key. jose refuses an RSA key under 2048 bits
// with a TypeError before verifying, so a JWKS that still lists a legacy RSA-1024 key ahead of the current
// one makes every kid-less PS256 token 401, although the key that signed it is published and strong.
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { compileRouteTable } from '../../src/route/table.js';
import { JwtValidator } from '../../src/token/jwt-validator.js';
import type { Route } from '../../src/types.js';

const ISS = 'https://as.review.test';
const AUD = 'https://api.test';

function setup(jwks: { keys: JWK[] }) {
  const cfg = {
    server: { listen: '127.0.0.1:0', public_origin: AUD, tls: { cert_file: 'x.crt', key_file: 'x.key' } },
    issuers: { main: { issuer: ISS, jwks_uri: `${ISS}/jwks`, algorithms: ['PS256'] } },
    routes: [
      { id: 'a', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: AUD, binding: 'none' }, upstream: { url: 'http://127.0.0.1:9' } },
    ],
  };
  const loaded = parseConfig(stringify(cfg), '<inline>', {});
  const route = compileRouteTable(loaded).match('GET', '/a', 'api.test') as Route;
  const jwt = new JwtValidator([{ name: 'main', config: loaded.config.issuers.main!, keys: { getKey: createLocalJWKSet(jwks) as never } }], 100);
  return { jwt, route };
}

describe('JWT-3: kid-less token, JWKS with a legacy RSA-1024 key listed before the current RSA-2048 key', () => {
  it('a PS256 token signed by the published RSA-2048 key is accepted', async () => {
    const legacy = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const current = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwks = { keys: [legacy.publicKey.export({ format: 'jwk' }) as JWK, current.publicKey.export({ format: 'jwk' }) as JWK] };
    const { jwt, route } = setup(jwks);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: 'user-1', client_id: 'tpp', jti: 'j1', aud: AUD, iss: ISS, iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'PS256', typ: 'at+jwt' })
      .sign(current.privateKey);
    let outcome: string;
    try {
      outcome = (await jwt.validate(token, route)).subject ?? 'no subject';
    } catch (e) {
      outcome = `refused: ${(e as Error).message}`;
    }
    expect(outcome).toBe('user-1');
  });
});
