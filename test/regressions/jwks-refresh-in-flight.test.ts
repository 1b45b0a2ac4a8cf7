// JWT-4 (found in review): a token signed by a newly rotated key must be accepted once the JWKS refresh that its
// unknown kid needs has completed. While a refresh is already in flight (started by another request's
// kid miss, or by the background refresh of stale keys), the lookup must wait for it, not answer
// 401 invalid_token because "a fetch was just attempted" (coolingDown counts from the fetch start).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { compileRouteTable } from '../../src/route/table.js';
import { IssuerKeys } from '../../src/token/issuer-keys.js';
import { JwtValidator } from '../../src/token/jwt-validator.js';
import type { Route } from '../../src/types.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await startIssuer();
});
afterAll(async () => {
  await issuer.close();
});

function setup() {
  const cfg = {
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'x.crt', key_file: 'x.key' } },
    // Defaults: jwks_refetch_cooldown_s 30, jwks_refresh_s 300.
    issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri } },
    routes: [
      { id: 'a', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'none' }, upstream: { url: 'http://127.0.0.1:9' } },
    ],
  };
  const loaded = parseConfig(stringify(cfg), '<inline>', {});
  const route = compileRouteTable(loaded).match('GET', '/a', 'api.test') as Route;
  let offset = 0;
  // Only the key cache's clock is shifted (to pass cooldown / refresh intervals); token times stay real.
  const keys = new IssuerKeys(loaded.config.issuers.main!, [issuer.caPem], {}, () => Date.now() + offset);
  const jwt = new JwtValidator([{ name: 'main', config: loaded.config.issuers.main!, keys }], 100);
  return { jwt, keys, route, advance: (ms: number) => (offset += ms) };
}

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('JWT-4: a kid miss while a JWKS refresh is already in flight', () => {
  it('JWT-4 concurrent requests with a newly rotated kid: all 200 once the one refresh completes (none 401)', async () => {
    const { jwt, route, advance } = setup();
    expect(await outcome(jwt.validate(await issuer.mint(), route))).toBe('ok'); // first fetch
    await issuer.rotate();
    advance(31_000); // past the refetch cooldown
    issuer.mode = 'slow';
    issuer.slowMs = 300; // the refresh takes 300 ms (well within http_timeout_ms)
    const fetches = issuer.jwksFetches;
    const tokens = await Promise.all([issuer.mint(), issuer.mint(), issuer.mint()]);
    const results = await Promise.all(tokens.map((t) => outcome(jwt.validate(t, route))));
    issuer.mode = 'ok';
    expect(issuer.jwksFetches - fetches).toBe(1);
    expect(results).toEqual(['ok', 'ok', 'ok']);
  });

  it('JWT-4 stale keys: the request whose kid miss coincides with the background refresh is not refused', async () => {
    const { jwt, route, advance } = setup();
    expect(await outcome(jwt.validate(await issuer.mint(), route))).toBe('ok'); // first fetch
    await issuer.rotate();
    advance(301_000); // keys older than jwks_refresh_s (and past the cooldown)
    const fetches = issuer.jwksFetches;
    // This lookup starts the background refresh (refreshIfStale), then misses the kid in the old set.
    const token = await issuer.mint();
    const r = await outcome(jwt.validate(token, route));
    // The background refresh did bring the new key: the very same token passes a moment later.
    await new Promise((res) => setTimeout(res, 300));
    expect(issuer.jwksFetches - fetches).toBe(1);
    expect(await outcome(jwt.validate(token, route))).toBe('ok');
    expect(r).toBe('ok');
  });
});
