// Found in review (fixed; the test failed before): `http_signatures.max_body_bytes` (a signed request
// body held in memory) is capped at 1 GiB, but `http_signatures.response_signing.max_body_bytes` (a
// signed response held in memory, then Buffer.concat'ed and hashed in one synchronous step) accepts up
// to 2^40 (1 TiB), the limit of *streamed* bodies. A value above what a process can hold makes the limit
// meaningless, and the Buffer.concat in signedResponse's 'end' handler sits outside its try: an
// allocation failure there is an uncaught exception (no process handler), not a 502. The same 1 GiB
// bound should apply.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const text = (signing: Record<string, unknown>): string =>
  stringify({
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'a', key_file: 'b' } },
    issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
    http_signatures: signing,
    routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/x' }, auth: { issuers: ['main'], audience: 'https://api.test' }, sign_responses: true, upstream: { url: 'http://127.0.0.1:1' } }],
  });
const verdict = (t: string): string => {
  try {
    parseConfig(t, 'test.yaml', {});
    return 'accepted';
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
};

describe('in-memory body limits are bounded alike', () => {
  const over = 2 ** 31;
  it('http_signatures.max_body_bytes above 1 GiB is refused (baseline)', () => {
    expect(verdict(text({ max_body_bytes: over, response_signing: { keys: [{ key_file: 'k.pem', kid: 'k', alg: 'ES256' }] } }))).toMatch(/max_body_bytes/);
  });
  it('response_signing.max_body_bytes above 1 GiB is refused too', () => {
    // Fails: accepted (up to 2^40).
    expect(verdict(text({ response_signing: { keys: [{ key_file: 'k.pem', kid: 'k', alg: 'ES256' }], max_body_bytes: over } }))).toMatch(/max_body_bytes/);
  });
});
