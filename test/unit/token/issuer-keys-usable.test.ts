// JWT-4 / Q-13: an issuer JWKS with no key that can verify a signature (empty, only `use: enc`, only
// unreadable or symmetric keys) is a failed fetch (503, keys held stay), never "every token is invalid".
// Real IssuerKeys against a JWKS host over TLS (the test CA).
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { isGatewayError } from '../../../src/errors/gateway-error.js';
import { IssuerKeys } from '../../../src/token/issuer-keys.js';
import { testPki, type TestPki } from '../../support/pki.js';

let pki: TestPki;
let doc: unknown = { keys: [] };
let down = false;
let fetches = 0;
const host = createServer({}, (_q, res) => {
  fetches++;
  if (down) res.writeHead(503).end();
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
});
let url: string;

beforeAll(async () => {
  pki = await testPki();
  host.setSecureContext({ cert: pki.server.certPem, key: pki.server.keyPem });
  await new Promise<void>((ok) => host.listen(0, '127.0.0.1', ok));
  url = `https://127.0.0.1:${(host.address() as AddressInfo).port}/jwks`;
});
afterAll(() => new Promise<void>((ok) => host.close(() => ok())));

function keys(now?: () => number): IssuerKeys {
  const cfg = {
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'x.crt', key_file: 'x.key' } },
    issuers: { main: { issuer: 'https://as.test', jwks_uri: url, jwks_refresh_s: 60, jwks_refetch_cooldown_s: 30 } },
    routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:9' } }],
  };
  return new IssuerKeys(parseConfig(stringify(cfg), '<inline>', {}).config.issuers.main!, [pki.ca.certPem], {}, now);
}

const ec = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', ...extra });

async function fetched(d: unknown): Promise<string> {
  doc = d;
  const k = keys();
  try {
    await k.refresh();
    return k.ready ? 'ready' : 'not ready';
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    return `${e.status} ${e.code}: ${e.message}`;
  }
}

describe('an issuer JWKS without a key that can verify is a failed fetch', () => {
  it.each([
    ['no keys', { keys: [] }, /JWKS has no keys/],
    ['only an encryption key', { keys: [ec({ use: 'enc' })] }, /no key that can verify/],
    ['only a key whose key_ops exclude verify', { keys: [ec({ key_ops: ['encrypt'] })] }, /no key that can verify/],
    ['only an empty object', { keys: [{}] }, /no key that can verify/],
    ['only a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }] }, /no key that can verify/],
  ])('%s: 503 GW_JWKS_UNAVAILABLE, not ready', async (_what, d, why) => {
    const r = await fetched(d);
    expect(r).toMatch(/^503 GW_JWKS_UNAVAILABLE: /);
    expect(r).toMatch(why);
  });

  it('control: one signing key among unusable ones is a successful fetch', async () => {
    expect(await fetched({ keys: [ec({ use: 'enc', kid: 'e' }), {}, ec()] })).toBe('ready');
  });
});

describe('JWT-4 / Q-13: an unknown kid while the AS is failing', () => {
  it('a refresh failed moments ago: an unknown kid makes no second fetch within the cooldown, and is a 503', async () => {
    let t = 1_000_000;
    doc = { keys: [ec()] };
    down = false;
    const k = keys(() => t);
    await k.refresh();
    down = true;
    t += 61_000; // past jwks_refresh_s: the next use waits for a refresh, which fails
    await k.freshen();
    const before = fetches;
    t += 1_000;
    const e = await k.getKey({ alg: 'ES256', kid: 'rotated-in' }, { payload: '', signature: '' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isGatewayError(e) ? `${e.status} ${e.code}` : String(e)).toBe('503 GW_JWKS_UNAVAILABLE');
    // Requests wait on a failing fetch at most once per cooldown (README jwks_refresh_s).
    expect(fetches).toBe(before);
    down = false;
  });
});
