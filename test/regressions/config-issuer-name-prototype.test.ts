// Found in review (failed on the code before its fix).
// crossCheck looks route issuer names up with `c.issuers[name]` on a plain object: names inherited from
// Object.prototype (`constructor`, `toString`, ...) are not "unknown". On a FAPI route the loader then
// crashes with a TypeError (no key path, no line); on a non-fapi route the config is accepted with a
// route whose issuer does not exist (README: routes name issuers from `issuers`; the unit test
// 'refuses a route that names an unknown issuer').
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const withIssuerRef = (name: string, profile: string) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [
    {
      id: 'accounts',
      profile,
      match: { methods: ['GET'], path_prefix: '/accounts' },
      auth: { issuers: [name], audience: 'https://api.test' },
      upstream: { url: 'http://127.0.0.1:1' },
    },
  ],
});

const result = (c: object): unknown => {
  try {
    parseConfig(stringify(c), 'x.yaml', {});
    return 'accepted';
  } catch (e) {
    return e instanceof ConfigError ? e.issues.map((i) => `${i.path}: ${i.message}`) : `${(e as Error).name}: ${(e as Error).message}`;
  }
};

describe('route issuer names that exist on Object.prototype', () => {
  it('fapi2 route naming issuer "constructor": a ConfigError naming the key path, not a TypeError', () => {
    expect(result(withIssuerRef('constructor', 'fapi2'))).toEqual(['routes[0].auth.issuers[0]: unknown issuer constructor']);
  });
  it('non-fapi route naming issuer "toString" is refused as an unknown issuer', () => {
    expect(result(withIssuerRef('toString', 'non-fapi'))).toEqual(['routes[0].auth.issuers[0]: unknown issuer toString']);
  });
});
