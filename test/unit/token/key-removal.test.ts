// JWT-3 on cached tokens: a token verified once is served from the cache until `exp`, unless the key
// that verified it leaves the issuer's JWKS. Real IssuerKeys against the test issuer over TLS; only the
// clock is ours, to pass `jwks_refresh_s` without waiting.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';
import { IssuerKeys } from '../../../src/token/issuer-keys.js';
import { JwtValidator } from '../../../src/token/jwt-validator.js';
import { createTokenValidator } from '../../../src/token/token-validator.js';
import type { Route } from '../../../src/types.js';
import { codeOf } from '../../support/contract.js';
import { startIssuer, type TestIssuer } from '../../support/issuer.js';

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
    issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, jwks_refresh_s: 10, jwks_refetch_cooldown_s: 1 } },
    routes: [
      { id: 'a', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'none' }, upstream: { url: 'http://127.0.0.1:9' } },
    ],
  };
  const loaded = parseConfig(stringify(cfg), '<inline>', {});
  const route = compileRouteTable(loaded).match('GET', '/a', 'api.test') as Route;
  let nowMs = Date.now();
  const now = () => nowMs;
  const keys = new IssuerKeys(loaded.config.issuers.main!, [issuer.caPem], {}, now);
  const jwt = new JwtValidator([{ name: 'main', config: loaded.config.issuers.main!, keys }], 100, now);
  return { jwt, keys, route, now, cfg: loaded.config.issuers.main!, advance: (ms: number) => (nowMs += ms) };
}

describe('JWT-3: cached tokens and the JWKS', () => {
  it('a key removed from the JWKS revokes the cached tokens it signed, from the first use after jwks_refresh_s', async () => {
    const { jwt, route, advance } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    const fetches = issuer.jwksFetches;

    await issuer.rotate(); // the signing key leaves the JWKS
    advance(11_000);
    // Keys past jwks_refresh_s do not judge: the cache defers to validate(), which waits for the refresh.
    expect(jwt.cached(token, route)).toBeUndefined();
    expect(await codeOf(jwt.validate(token, route))).toBe('GW_TOKEN_INVALID');
    expect(issuer.jwksFetches).toBe(fetches + 1);
    // A token from the new key is fine.
    expect((await jwt.validate(await issuer.mint(), route)).subject).toBe('user-1');
  });

  it('JWT-3 idle issuer: the first token after a long quiet spell is judged by fresh keys, not hour-old ones', async () => {
    const { jwt, route, advance } = setup();
    const withdrawn = await issuer.mint();
    await jwt.validate(withdrawn, route);
    const uncached = await issuer.mint({ sub: 'user-2' }); // signed by the same key, never seen
    await issuer.rotate(); // the AS withdraws the key (compromised, say)
    advance(3_600_000);
    const fetches = issuer.jwksFetches;
    expect(await codeOf(jwt.validate(uncached, route))).toBe('GW_TOKEN_INVALID');
    expect(await codeOf(jwt.validate(withdrawn, route))).toBe('GW_TOKEN_INVALID');
    expect(issuer.jwksFetches).toBe(fetches + 1); // one fetch, which both waited for
  });

  it('JWT-3 under traffic: past 80% of jwks_refresh_s a request starts the refresh in the background and is not held', async () => {
    const { jwt, keys, route, advance } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    const fetches = issuer.jwksFetches;
    advance(7_000);
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    expect(issuer.jwksFetches).toBe(fetches); // 70%: nothing yet
    advance(1_500);
    expect(keys.freshen()).toBeUndefined(); // 85%: nobody waits...
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    const generation = keys.generation;
    await vi.waitFor(() => expect(keys.generation).toBe(generation + 1), { timeout: 2000 }); // ...the fetch it started lands
    expect(issuer.jwksFetches).toBe(fetches + 1);
    advance(2_000); // past jwks_refresh_s since the first fetch, not since this one
    expect(keys.freshen()).toBeUndefined();
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
  });

  it('JWT-3 AS down: a failed refresh keeps the held keys, and only one request per cooldown waits for the next try', async () => {
    const { jwt, keys, route, advance } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    issuer.mode = 'down';
    advance(11_000);
    const fetches = issuer.jwksFetches;
    expect((await jwt.validate(token, route)).subject).toBe('user-1'); // waited for a failed fetch
    expect(issuer.jwksFetches).toBe(fetches + 1);
    expect(keys.freshen()).toBeUndefined(); // within the cooldown: no wait, the held keys judge
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    advance(1_100); // past jwks_refetch_cooldown_s (1 s)
    issuer.mode = 'ok';
    expect(keys.freshen()).toBeDefined();
    expect((await jwt.validate(token, route)).subject).toBe('user-1');
    expect(issuer.jwksFetches).toBe(fetches + 2);
    expect(keys.freshen()).toBeUndefined();
  });

  it('a refresh that keeps the key keeps the cached token (one check per JWKS generation)', async () => {
    const { jwt, keys, route, advance } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    await issuer.addKey(); // the JWKS changes, the signing key stays
    advance(11_000);
    expect(jwt.cached(token, route)).toBeUndefined(); // stale keys: validate() waits for the refresh
    expect((await jwt.validate(token, route)).subject).toBe('user-1');
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    expect((await jwt.validate(token, route)).subject).toBe('user-1');
  });

  it('without a refresh (keys not yet stale), a rotation does not touch the cache', async () => {
    const { jwt, route } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    const fetches = issuer.jwksFetches;
    await issuer.rotate();
    expect(jwt.cached(token, route)?.subject).toBe('user-1');
    expect(issuer.jwksFetches).toBe(fetches);
  });
});

describe('a config reload hands the verified tokens over (no re-verification burst)', () => {
  it('keeps them while the JWT issuers are unchanged (same settings, same key cache); starts empty otherwise', async () => {
    const { jwt, keys, route, now, cfg } = setup();
    const token = await issuer.mint();
    await jwt.validate(token, route);
    const same = new JwtValidator([{ name: 'main', config: structuredClone(cfg), keys }], 100, now, jwt);
    expect(same.cached(token, route)?.subject).toBe('user-1');
    // Changed settings (a narrower algorithm list) or another key cache: verify again.
    const changed = new JwtValidator([{ name: 'main', config: { ...cfg, algorithms: ['PS256'] }, keys }], 100, now, same);
    expect(changed.cached(token, route)).toBeUndefined();
    const otherKeys = new IssuerKeys(cfg, [issuer.caPem], {}, now);
    expect(new JwtValidator([{ name: 'main', config: cfg, keys: otherKeys }], 100, now, same).cached(token, route)).toBeUndefined();
    expect(new JwtValidator([], 100, now, same).cached(token, route)).toBeUndefined();
  });

  it('through createTokenValidator, as main.ts builds each config', async () => {
    const { keys, route, now, cfg } = setup();
    const issuers = [{ name: 'main', config: cfg, keys }];
    const loaded = { baseDir: '.', secrets: {} } as Parameters<typeof createTokenValidator>[0];
    const first = createTokenValidator(loaded, issuers, { now });
    const token = await issuer.mint();
    await first.validate(token, route);
    expect(createTokenValidator(loaded, issuers, { now, previous: first }).cached?.(token, route)?.subject).toBe('user-1');
    expect(createTokenValidator(loaded, issuers, { now }).cached?.(token, route)).toBeUndefined();
  });
});
