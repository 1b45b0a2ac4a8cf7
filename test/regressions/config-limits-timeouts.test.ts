// Found in review (fixed; the test failed before): `check` (the config loader) accepted limits Node
// refuses when the listener is created: headers_timeout_ms > request_timeout_ms (each within its own
// bounds). The gateway then failed to start (ERR_OUT_OF_RANGE) although `check` said valid, and a
// reload with the same limits was accepted silently (Object.assign skips Node's check).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

const config = (limits: Record<string, number>): string =>
  stringify({
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'c.pem', key_file: 'k.pem' }, limits },
    issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
    routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:9' } }],
  });

describe('HDR-16 / config: server.limits that Node would refuse at start', () => {
  it('headers_timeout_ms above request_timeout_ms (the default 30000) is a config error at its path', () => {
    expect(() => parseConfig(config({ headers_timeout_ms: 60000 }), '<inline>', {})).toThrow(/server\.limits\.headers_timeout_ms \(line \d+\): headers_timeout_ms \(default 10000\) must not exceed request_timeout_ms: set both/);
    // Only a short request timeout: the default head timeout is above it, and the message says so.
    expect(() => parseConfig(config({ request_timeout_ms: 5000 }), '<inline>', {})).toThrow(/headers_timeout_ms \(default 10000\) must not exceed/);
    expect(() => parseConfig(config({ headers_timeout_ms: 60000, request_timeout_ms: 60000, send_timeout_ms: 61000 }), '<inline>', {})).not.toThrow();
  });

  // Found in review: with send_timeout_ms below headers_timeout_ms, a connection quiet in the middle of
  // its request head was closed at send_timeout_ms (no response under way: an idle connection to the
  // listener) without the head's 408 and without a log line.
  it('send_timeout_ms must leave the head its 408: at least headers_timeout_ms + 1000', () => {
    expect(() => parseConfig(config({ send_timeout_ms: 1000 }), '<inline>', {})).toThrow(
      /server\.limits\.send_timeout_ms \(line \d+\): send_timeout_ms \(default 60000\) must be at least headers_timeout_ms \(default 10000\) \+ 1000/,
    );
    expect(() => parseConfig(config({ headers_timeout_ms: 60000, request_timeout_ms: 60000 }), '<inline>', {})).toThrow(/send_timeout_ms/);
    expect(() => parseConfig(config({ send_timeout_ms: 11000 }), '<inline>', {})).not.toThrow();
  });
});
