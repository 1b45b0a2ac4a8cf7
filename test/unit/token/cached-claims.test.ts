// The synchronous cache-hit path (TokenValidator.cached) must answer exactly what validate() would for a
// token it has already verified, and defer to validate() for everything else (JWT-8, JWT-9, JWT-4, Q-3).
import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';
import { JwtValidator } from '../../../src/token/jwt-validator.js';
import { CompositeTokenValidator } from '../../../src/token/token-validator.js';
import type { Route } from '../../../src/types.js';
import { codeOf } from '../../support/contract.js';

const ISSUER = 'https://as.test';
const up = { url: 'http://127.0.0.1:9' };

async function setup(revocation: 'none' | 'introspect' = 'none') {
  const issuer: Record<string, unknown> = { issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` };
  if (revocation === 'introspect') {
    Object.assign(issuer, {
      revocation,
      introspection: { endpoint: `${ISSUER}/introspect`, client_id: 'gw', auth: 'client_secret_basic', client_secret_env: 'SECRET' },
    });
  }
  const cfg = {
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'x.crt', key_file: 'x.key' } },
    issuers: { main: issuer },
    routes: [
      { id: 'a', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'none' }, upstream: up },
      { id: 'b', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/b' }, auth: { issuers: ['main'], audience: 'https://other.test', binding: 'none' }, upstream: up },
    ],
  };
  const loaded = parseConfig(stringify(cfg), '<inline>', { SECRET: 's' });
  const table = compileRouteTable(loaded);
  const routeA = table.match('GET', '/a', 'api.test') as Route;
  const routeB = table.match('GET', '/b', 'api.test') as Route;
  const key = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256' }] };
  let nowMs = Date.now();
  const jwt = new JwtValidator([{ name: 'main', config: loaded.config.issuers.main!, keys: { getKey: createLocalJWKSet(jwks) } }], 100, () => nowMs);
  const nowS = Math.floor(nowMs / 1000);
  const token = await new SignJWT({ sub: 'alice', client_id: 'tpp', scope: 'accounts', jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience('https://api.test')
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + 60)
    .sign(key.privateKey);
  return { jwt, routeA, routeB, token, advance: (ms: number) => (nowMs += ms), loaded };
}

describe('TokenValidator.cached: the promise-free path for tokens seen before', () => {
  it('JWT-1 nothing before the first validate(); the very claims validate() returned after it', async () => {
    const { jwt, routeA, token } = await setup();
    expect(jwt.cached(token, routeA)).toBeUndefined();
    const claims = await jwt.validate(token, routeA);
    expect(jwt.cached(token, routeA)).toBe(claims);
    expect(jwt.cached(`${token}x`, routeA)).toBeUndefined();
  });

  it('JWT-8 past exp it defers, and validate() refuses', async () => {
    const { jwt, routeA, token, advance } = await setup();
    await jwt.validate(token, routeA);
    advance(61_000 + 60_000);
    expect(jwt.cached(token, routeA)).toBeUndefined();
    expect(await codeOf(jwt.validate(token, routeA))).toBe('GW_TOKEN_EXPIRED');
  });

  it('JWT-4 a route with another audience gets nothing from the cache, and validate() refuses', async () => {
    const { jwt, routeA, routeB, token } = await setup();
    await jwt.validate(token, routeA);
    expect(jwt.cached(token, routeB)).toBeUndefined();
    expect(await codeOf(jwt.validate(token, routeB))).toBe('GW_TOKEN_AUDIENCE');
  });

  it('Q-3 an issuer with revocation: introspect never answers from the JWT cache alone', async () => {
    const { jwt, routeA, token, loaded } = await setup('introspect');
    const claims = await jwt.validate(token, routeA);
    expect(jwt.cached(token, routeA)).toBe(claims);
    const composite = new CompositeTokenValidator([{ name: 'main', config: loaded.config.issuers.main!, introspector: { introspect: async () => claims } }], jwt);
    expect(composite.cached(token, routeA)).toBeUndefined();
  });

  it('TOK-9 the composite answers from the JWT cache on JWT-only routes', async () => {
    const { jwt, routeA, token, loaded } = await setup();
    const composite = new CompositeTokenValidator([{ name: 'main', config: loaded.config.issuers.main! }], jwt);
    expect(composite.cached(token, routeA)).toBeUndefined();
    const claims = await composite.validate(token, routeA);
    expect(composite.cached(token, routeA)).toBe(claims);
  });
});
