// Found in review of the client jwks_uri fetcher (fixed; the tests failed before), the same on the
// issuers' side (JWT-3, JWT-4, TLS-11):
// - A 1 MiB JWKS of junk entries held the event loop for about ten seconds and was accepted.
// - jwks_refresh_s was stretched to jwks_refetch_cooldown_s when that was longer (a removed key kept
//   verifying until the cooldown).
// - A reload that changed only a timing made a new key cache (a refetch, readiness 503 with the AS down).
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { IssuerConfig } from '../../src/config/schema.js';
import { IssuerKeys } from '../../src/token/issuer-keys.js';
import { codeOf } from '../support/contract.js';
import { startJwksHost, type JwksHost } from '../support/http-sig.js';
import { testPki } from '../support/pki.js';

let host: JwksHost;
let ca: string;
beforeAll(async () => {
  host = await startJwksHost();
  ca = (await testPki()).ca.certPem;
});
afterAll(() => host?.close());

const jwk = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' });
let seq = 0;
function issuerKeys(doc: unknown, timings: Record<string, number> = {}): { keys: IssuerKeys; path: string; clock: { t: number }; cfg: (t: Record<string, number>) => IssuerConfig } {
  const path = `/as/${++seq}/jwks`;
  host.docs.set(path, doc);
  const cfg = (t: Record<string, number>): IssuerConfig =>
    parseConfig(
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'x.crt', key_file: 'x.key' } },
        issuers: { main: { issuer: 'https://as.test', jwks_uri: host.url(path), ...t } },
        routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:9' } }],
      }),
      '<inline>',
      {},
    ).config.issuers.main as IssuerConfig;
  const clock = { t: 1_000_000 };
  return { keys: new IssuerKeys(cfg(timings), [ca], {}, () => clock.t), path, clock, cfg };
}

/** Whether the host has had `n` fetches of `path` within `ms` (a background refresh is not awaited). */
async function fetchesReach(path: string, n: number, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if ((host.fetches.get(path) ?? 0) >= n) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('issuer JWKS fetches', () => {
  it('TLS-11: a JWKS of more than 100 keys is a failed fetch (503), refused before any key is looked at', async () => {
    const t = performance.now();
    const { keys } = issuerKeys(`{"keys":[${'{},'.repeat(100_000)}{}]}`);
    expect(await codeOf(keys.refresh())).toBe('GW_JWKS_UNAVAILABLE');
    expect(performance.now() - t).toBeLessThan(1500);
    expect(keys.ready).toBe(false);
    const { keys: ok } = issuerKeys({ keys: Array.from({ length: 100 }, (_, i) => jwk(`k${i}`)) });
    await ok.refresh();
    expect(ok.ready).toBe(true);
  });

  it('JWT-3: keys are refreshed after jwks_refresh_s even when jwks_refetch_cooldown_s is longer', async () => {
    const { keys, path, clock } = issuerKeys({ keys: [jwk('k1')] }, { jwks_refresh_s: 10, jwks_refetch_cooldown_s: 120 });
    await keys.refresh();
    clock.t += 11_000;
    keys.freshen();
    expect(await fetchesReach(path, 2)).toBe(true);
  });

  it('configure: a reload changing only timings applies them to the keys held', async () => {
    const { keys, path, clock, cfg } = issuerKeys({ keys: [jwk('k1')] }, { jwks_refresh_s: 300 });
    await keys.refresh();
    clock.t += 61_000;
    keys.freshen();
    expect(host.fetches.get(path)).toBe(1);
    expect(await fetchesReach(path, 2, 300)).toBe(false);
    keys.configure(cfg({ jwks_refresh_s: 60 }));
    keys.freshen();
    expect(await fetchesReach(path, 2)).toBe(true);
    expect(keys.ready).toBe(true);
  });
});
