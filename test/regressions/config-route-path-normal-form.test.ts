// Found in review (failed on the code before its fix).
// A route path is accepted as written (schema.ts `path` allows any `%` escape), but requests are
// matched after normalisation (normalize-path.ts: hex upper-cased, unreserved characters decoded). A
// route written with a lower-case escape or an escaped unreserved character validates, `check` prints
// it, and it never matches any request (404 for the API it was meant to protect).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { normaliseTarget } from '../../src/route/normalize-path.js';
import { compileRouteTable } from '../../src/route/table.js';

const withPrefix = (path_prefix: string) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [
    {
      id: 'r',
      match: { methods: ['GET'], path_prefix },
      auth: { issuers: ['as'], audience: 'https://api.test' },
      upstream: { url: 'http://127.0.0.1:1' },
    },
  ],
});

/** 'refused' when the config is refused, else whether the request (sent exactly as the route is written) matches. */
const verdict = (prefix: string, request: string): string => {
  let table;
  try {
    table = compileRouteTable(parseConfig(stringify(withPrefix(prefix)), 'x.yaml', {}));
  } catch (e) {
    if (e instanceof ConfigError) return 'refused';
    throw e;
  }
  const n = normaliseTarget(request);
  if (!n.ok) return `request refused: ${n.reason}`;
  return table.match('GET', n.path, 'api.test') === undefined ? 'accepted, never matches' : 'matches';
};

describe('route paths that are not in the normal form requests are matched in', () => {
  it('a lower-case percent-escape (/caf%c3%a9) either matches that request or is refused at load', () => {
    expect(verdict('/caf%c3%a9', '/caf%c3%a9/1')).not.toBe('accepted, never matches');
  });
  it('an escaped unreserved character (/%7Eusers) either matches that request or is refused at load', () => {
    expect(verdict('/%7Eusers', '/%7Eusers/1')).not.toBe('accepted, never matches');
  });
});
