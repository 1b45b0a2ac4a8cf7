// SIG-2, TLS-11: a client's signing keys behind its jwks_uri, fetched from a real TLS host on loopback
// (the test CA), with the clock injected for refresh and cooldown.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../src/errors/gateway-error.js';
import { ClientJwks, usableKeys, type ClientJwksOptions } from '../../../src/signature/client-jwks.js';
import { edKey, startJwksHost, type JwksHost } from '../../support/http-sig.js';
import { testPki } from '../../support/pki.js';

let host: JwksHost;
let ca: string;
beforeAll(async () => {
  host = await startJwksHost();
  ca = (await testPki()).ca.certPem;
});
afterAll(() => host?.close());
afterEach(() => {
  host.mode = 'ok';
  host.docs.clear();
});

const ec = (kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
  kid,
  alg: 'ES256',
  ...extra,
});

let seq = 0;
/** A fetcher of a fresh path on the host, its clock at `clock.t`. */
function fetcher(doc: unknown, o: Partial<ClientJwksOptions> & { trust?: boolean } = {}): { keys: ClientJwks; path: string; clock: { t: number }; events: [boolean, string][] } {
  const path = `/tpp/${++seq}.jwks`;
  if (doc !== undefined) host.docs.set(path, doc);
  const clock = { t: 1_000_000 };
  const events: [boolean, string][] = [];
  const keys = new ClientJwks(
    'tpp-1',
    host.url(path),
    { http: { ca: o.trust === false ? [] : [ca], timeoutMs: 1000, ...o.http }, refreshS: o.refreshS ?? 300, refetchCooldownS: o.refetchCooldownS ?? 30 },
    { onFetch: (_c, ok, detail) => void events.push([ok, detail]) },
    () => clock.t,
  );
  return { keys, path, clock, events };
}

async function unavailable(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!isGatewayError(e)) throw new Error(`expected a GatewayError, got ${String(e)}`);
  expect(e.code).toBe('GW_CLIENT_JWKS_UNAVAILABLE');
  expect(e.status).toBe(503);
  expect(e.retryAfterS).toBeGreaterThan(0);
  return e.message;
}

describe('SIG-2 usableKeys: the keys of a document the gateway does not own', () => {
  it('keeps signing keys and skips, with a reason each, what cannot sign', () => {
    const ed = edKey('ed-1').jwk;
    const rsaWeak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'PS256' };
    const priv = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'priv', alg: 'ES256' };
    const { alg: _a, ...noAlg } = ec('no-alg');
    const { keys, skipped } = usableKeys({
      keys: [ec('good'), ed, ec('enc', { use: 'enc' }), noAlg, ec('rs', { alg: 'RS256' }), rsaWeak, priv, ec('mismatch', { alg: 'PS256' }), 'x', { kid: 'no-kty' }],
    });
    expect([...keys.keys()]).toEqual(['good', 'ed-1']);
    expect(keys.get('good')?.alg).toBe('ES256');
    expect(skipped).toHaveLength(8);
    expect(skipped.join('\n')).toMatch(/"enc": use must be sig/);
    expect(skipped.join('\n')).toMatch(/"no-alg": alg/);
    expect(skipped.join('\n')).toMatch(/"rs": alg/);
    expect(skipped.join('\n')).toMatch(/"weak": RSA keys need at least 2048 bits/);
    expect(skipped.join('\n')).toMatch(/"priv": d a private key/);
    expect(skipped.join('\n')).toMatch(/"mismatch": alg PS256 needs kty RSA/);
    expect(skipped.join('\n')).toMatch(/#8: /);
  });

  it('two keys under one kid: neither is used (which one a signature meant is unknown), a third neither', () => {
    const { keys, skipped } = usableKeys({ keys: [ec('dup'), ec('ok'), ec('dup'), ec('dup')] });
    expect([...keys.keys()]).toEqual(['ok']);
    expect(skipped).toEqual(['"dup": duplicate kid', '"dup": duplicate kid']);
  });

  it('a document that is not a JWKS is an error, not an empty key set', () => {
    expect(() => usableKeys([])).toThrow(/no keys array/);
    expect(() => usableKeys({ keys: {} })).toThrow(/no keys array/);
    expect(() => usableKeys(null)).toThrow(/no keys array/);
    expect(usableKeys({ keys: [] }).keys.size).toBe(0);
  });
});

describe('SIG-2 ClientJwks: fetched, refreshed, refetched on an unknown keyid', () => {
  it('fetches once for requests arriving together, then answers from memory', async () => {
    const { keys, path, events } = fetcher({ keys: [ec('k1')] });
    const found = await Promise.all(Array.from({ length: 5 }, () => keys.find('k1')));
    expect(found.every((k) => k?.alg === 'ES256')).toBe(true);
    expect(await keys.find('k1')).toBeDefined();
    expect(host.fetches.get(path)).toBe(1);
    expect(events).toEqual([[true, '1 usable keys']]);
    expect(keys.ready).toBe(true);
  });

  it('an unknown keyid refetches once the cooldown has passed (a key rotated in), not before', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refetchCooldownS: 30 });
    await keys.find('k1');
    host.docs.set(path, { keys: [ec('k1'), ec('k2')] });
    clock.t += 10_000;
    expect(await keys.find('k2')).toBeUndefined(); // within the cooldown: no fetch
    expect(host.fetches.get(path)).toBe(1);
    clock.t += 21_000;
    expect((await keys.find('k2'))?.alg).toBe('ES256');
    expect(host.fetches.get(path)).toBe(2);
    // Still unknown after a fetch: no such key, and no fetch for the next try within the cooldown.
    expect(await keys.find('k3')).toBeUndefined();
    expect(await keys.find('k3')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(2);
  });

  it('refreshes stale keys in the background: a key removed from the document stops verifying', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1'), ec('k2')] }, { refreshS: 60, refetchCooldownS: 5 });
    expect(await keys.find('k1')).toBeDefined();
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 61_000;
    // Served from the keys held while the refresh runs.
    expect(await keys.find('k1')).toBeDefined();
    await keys.refresh(); // joins the refresh under way
    expect(host.fetches.get(path)).toBe(2);
    expect(await keys.find('k1')).toBeUndefined();
    expect(await keys.find('k2')).toBeDefined();
  });

  it('Q-13: no keys yet and the host down: 503, retried after a short back-off, recovers by itself', async () => {
    const { keys, path, clock, events } = fetcher({ keys: [ec('k1')] }, { refetchCooldownS: 30 });
    host.mode = 'down';
    expect(await unavailable(keys.find('k1'))).toMatch(/SIG-2 keys of client "tpp-1" from its jwks_uri: .* answered 503/);
    expect(events).toEqual([[false, expect.stringMatching(/answered 503/)]]);
    host.mode = 'ok';
    // Within the back-off (min(cooldown, 5 s)): no new fetch, still 503.
    clock.t += 4_000;
    expect(await unavailable(keys.find('k1'))).toMatch(/no keys yet, last fetch failed .*next attempt within 5000 ms/);
    expect(host.fetches.get(path)).toBe(1);
    clock.t += 1_100;
    expect(await keys.find('k1')).toBeDefined();
    expect(host.fetches.get(path)).toBe(2);
  });

  it('Q-13: keys held and the host down: known keys keep verifying; an unknown keyid is 503, not 401', async () => {
    const { keys, clock } = fetcher({ keys: [ec('k1')] }, { refetchCooldownS: 30 });
    await keys.find('k1');
    host.mode = 'down';
    clock.t += 31_000;
    expect(await unavailable(keys.find('k2'))).toMatch(/answered 503/);
    // Within the cooldown now: no fetch, but the last one failed, so the key may exist.
    expect(await unavailable(keys.find('k2'))).toMatch(/unknown keyid while the last fetch failed/);
    expect(await keys.find('k1')).toBeDefined();
  });

  it('TLS-11: an untrusted certificate, a hanging host, a body over max_bytes, not JSON: each a failed fetch (503)', async () => {
    expect(await unavailable(fetcher({ keys: [ec('k1')] }, { trust: false }).keys.find('k1'))).toMatch(/certificate/i);
    host.mode = 'hang';
    const t0 = Date.now();
    expect(await unavailable(fetcher({ keys: [ec('k1')] }, { http: { timeoutMs: 300 } }).keys.find('k1'))).toMatch(/timed out after 300 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
    host.mode = 'ok';
    const big = { keys: Array.from({ length: 40 }, (_, i) => ec(`k${i}`)) };
    expect(await unavailable(fetcher(big, { http: { timeoutMs: 1000, maxBytes: 2048 } }).keys.find('k1'))).toMatch(/over 2048 bytes/);
    expect(await unavailable(fetcher('{ not json').keys.find('k1'))).toMatch(/not JSON/);
    expect(await unavailable(fetcher({ nokeys: true }).keys.find('k1'))).toMatch(/no keys array/);
    expect(await unavailable(fetcher(undefined).keys.find('k1'))).toMatch(/answered 404/);
  });

  it('names at most five skipped keys in the fetch event', async () => {
    const { keys, events } = fetcher({ keys: [ec('ok'), ...Array.from({ length: 8 }, (_, i) => ec(`e${i}`, { use: 'enc' }))] });
    await keys.find('ok');
    expect(events[0]?.[1]).toMatch(/^1 usable keys, 8 skipped \("e0": use must be sig, .*"e4": use must be sig, 3 more\)$/);
  });
});
