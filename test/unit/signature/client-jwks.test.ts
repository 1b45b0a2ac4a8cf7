// SIG-2, TLS-11: a client's signing keys behind its jwks_uri, fetched from a real TLS host on loopback
// (the test CA), with the clock injected for refresh and cooldown.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
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
  it('keeps signing keys and skips what cannot sign, naming the first five with a reason and counting the rest', () => {
    const ed = edKey('ed-1').jwk;
    const rsaWeak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'PS256' };
    const priv = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'priv', alg: 'ES256' };
    const { alg: _a, ...noAlg } = ec('no-alg');
    const cases: [unknown, RegExp][] = [
      [ec('enc', { use: 'enc' }), /"enc": use must be sig/],
      [noAlg, /"no-alg": alg/],
      [ec('rs', { alg: 'RS256' }), /"rs": alg/],
      [rsaWeak, /"weak": RSA keys need at least 2048 bits/],
      [priv, /"priv": d a private key/],
      [ec('mismatch', { alg: 'PS256' }), /"mismatch": alg PS256 needs kty RSA/],
      [ec('ops', { key_ops: ['encrypt'] }), /"ops": key_ops must include verify/],
      [ec('ops-str', { key_ops: 'verify' }), /"ops-str": key_ops must include verify/],
      ['x', /#\d+: not a JWK object/],
      [{ kid: 'no-kty' }, /"no-kty": kty/],
    ];
    for (const [jwk, why] of cases) {
      const one = usableKeys([ec('good'), jwk]);
      expect([...one.keys.keys()], String(why)).toEqual(['good']);
      expect(one.reasons.join('\n'), String(why)).toMatch(why);
    }
    const all = usableKeys([ec('good'), ed, ec('verify-ok', { key_ops: ['verify'] }), ...cases.map(([k]) => k)]);
    expect([...all.keys.keys()]).toEqual(['good', 'ed-1', 'verify-ok']);
    expect(all.keys.get('good')?.alg).toBe('ES256');
    expect(all.skipped).toBe(10);
    expect(all.reasons).toHaveLength(5);
  });

  it('a kid published more than once is not used at all, whatever the other entries under it are', () => {
    expect(usableKeys([ec('dup'), ec('ok'), ec('dup'), ec('dup')])).toMatchObject({ skipped: 3, reasons: ['"dup": duplicate kid', '"dup": duplicate kid', '"dup": duplicate kid'] });
    expect([...usableKeys([ec('dup'), ec('ok'), ec('dup')]).keys.keys()]).toEqual(['ok']);
    // An encryption key or a weak key beside a signing key under the same kid: the signing key is not used either.
    expect(usableKeys([ec('k', { use: 'enc' }), ec('k')]).keys.size).toBe(0);
    expect(usableKeys([{ kid: 'k' }, edKey('k').jwk]).keys.size).toBe(0);
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

  it('an unknown keyid refetches (a key rotated in) at most once per cooldown; keys under a second old are not fetched again', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refetchCooldownS: 30 });
    await keys.find('k1');
    host.docs.set(path, { keys: [ec('k1'), ec('k2')] });
    clock.t += 500;
    expect(await keys.find('k2')).toBeUndefined(); // keys 0.5 s old: no fetch
    expect(host.fetches.get(path)).toBe(1);
    clock.t += 9_500;
    // The first fetch was no unknown keyid's (it counts as none): a key rotated in since is fetched at once.
    expect((await keys.find('k2'))?.alg).toBe('ES256');
    expect(host.fetches.get(path)).toBe(2);
    // Still unknown after that fetch: no further fetch within the cooldown, one after it.
    clock.t += 5_000;
    expect(await keys.find('k3')).toBeUndefined();
    expect(await keys.find('k3')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(2);
    clock.t += 26_000;
    expect(await keys.find('k3')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(3);
  });

  it('keys older than refresh_s are fetched again before they judge a request: a removed key stops verifying at once', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1'), ec('k2')] }, { refreshS: 60, refetchCooldownS: 5 });
    expect(await keys.find('k1')).toBeDefined();
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 47_000;
    expect(await keys.find('k1')).toBeDefined(); // fresh enough (78%): no fetch
    expect(host.fetches.get(path)).toBe(1);
    clock.t += 14_000;
    // However long the route was idle, a withdrawn key never verifies once refresh_s has passed.
    expect(await Promise.all([keys.find('k1'), keys.find('k1'), keys.find('k2')])).toEqual([undefined, undefined, expect.objectContaining({ alg: 'ES256' })]);
    expect(host.fetches.get(path)).toBe(2);
  });

  it('from 80% of refresh_s a request starts the fetch in the background and is not held (under traffic nobody waits)', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refreshS: 60, refetchCooldownS: 5 });
    expect(await keys.find('k1')).toBeDefined();
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 50_000;
    expect(await keys.find('k1')).toBeDefined(); // judged by the held keys...
    await vi.waitFor(() => expect(host.fetches.get(path)).toBe(2), { timeout: 2000 }); // ...while the fetch runs
    await vi.waitFor(async () => expect(await keys.find('k1')).toBeUndefined(), { timeout: 2000 });
    clock.t += 20_000; // past refresh_s since the first fetch, not since the second: no wait, no fetch
    expect(await keys.find('k2')).toBeDefined();
    expect(host.fetches.get(path)).toBe(2);
  });

  it('refresh_s is kept even when refetch_cooldown_s is longer (the cooldown holds back only after a failure)', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refreshS: 10, refetchCooldownS: 120 });
    await keys.find('k1');
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 11_000;
    expect(await keys.find('k1')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(2);
  });

  it('Q-13: a refresh that fails leaves the held keys verifying, and is tried again after the cooldown, not per request', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refreshS: 10, refetchCooldownS: 30 });
    await keys.find('k1');
    host.mode = 'down';
    clock.t += 11_000;
    expect(await keys.find('k1')).toBeDefined();
    expect(await keys.find('k1')).toBeDefined();
    expect(host.fetches.get(path)).toBe(2);
    host.mode = 'ok';
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 31_000;
    expect(await keys.find('k1')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(3);
  });

  it('SIG-2 / Q-13: an unknown keyid just after a failed refresh makes no second fetch within the cooldown, and is a 503', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refreshS: 10, refetchCooldownS: 30 });
    await keys.find('k1');
    host.mode = 'down';
    clock.t += 11_000;
    expect(await keys.find('k1')).toBeDefined(); // the refresh failed; the held key still verifies
    expect(host.fetches.get(path)).toBe(2);
    clock.t += 2_000;
    expect(await unavailable(keys.find('k-rotated'))).toMatch(/unknown keyid while the last fetch failed/);
    expect(host.fetches.get(path)).toBe(2);
  });

  it('configure: new timings apply to the keys held (a reload keeps them)', async () => {
    const { keys, path, clock } = fetcher({ keys: [ec('k1')] }, { refreshS: 300 });
    await keys.find('k1');
    host.docs.set(path, { keys: [ec('k2')] });
    clock.t += 61_000;
    expect(await keys.find('k1')).toBeDefined();
    keys.configure({ http: { ca: [ca], timeoutMs: 1000 }, refreshS: 60, refetchCooldownS: 30 });
    expect(await keys.find('k1')).toBeUndefined();
    expect(host.fetches.get(path)).toBe(2);
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
    expect(await unavailable(fetcher([]).keys.find('k1'))).toMatch(/no keys array/);
    expect(await unavailable(fetcher({ keys: {} }).keys.find('k1'))).toMatch(/no keys array/);
    // A document of junk entries (a million zeros fit in 1 MiB) is refused before any entry is looked at.
    const t = performance.now();
    expect(await unavailable(fetcher(`{"keys":[${'0,'.repeat(200_000)}0]}`).keys.find('k1'))).toMatch(/JWKS has 200001 keys, more than 100/);
    expect(performance.now() - t).toBeLessThan(1500);
    expect(await unavailable(fetcher(undefined).keys.find('k1'))).toMatch(/answered 404/);
  });

  it('names at most five skipped keys in the fetch event', async () => {
    const { keys, events } = fetcher({ keys: [ec('ok'), ...Array.from({ length: 8 }, (_, i) => ec(`e${i}`, { use: 'enc' }))] });
    // (8 skipped: five named, three counted)
    await keys.find('ok');
    expect(events[0]?.[1]).toMatch(/^1 usable keys, 8 skipped \("e0": use must be sig, .*"e4": use must be sig, 3 more\)$/);
  });
});
