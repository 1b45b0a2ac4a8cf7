import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { acceptedAuthorization, extractCredentials, parseAuthorization } from '../../../src/token/credentials.js';
import { sha256Hex } from '../../../src/token/jwt-validator.js';

// A request as Node's parser leaves it: rawHeaders holds every field as received.
const req = (fields: [string, string][], socket?: object): IncomingMessage => ({ rawHeaders: fields.flat(), socket }) as unknown as IncomingMessage;
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof GatewayError) return e.code;
    throw e;
  }
  return 'accepted';
};

describe('credential extraction (CRED-*)', () => {
  it('CRED-1 / CRED-2: Bearer and DPoP, scheme case-insensitive', () => {
    expect(extractCredentials(req([['authorization', 'bEARER abc.def-_~+/=']]), '', 8192)).toMatchObject({ scheme: 'bearer', token: 'abc.def-_~+/=' });
    expect(extractCredentials(req([['authorization', 'dPoP t0k'], ['dpop', 'p']]), '', 8192)).toMatchObject({ scheme: 'dpop', token: 't0k', proofs: ['p'] });
  });
  it('CRED-2: empty or non-token68 credentials are invalid_request', () => {
    expect(code(() => parseAuthorization('Bearer'))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(code(() => parseAuthorization('Bearer '))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(code(() => parseAuthorization('Bearer a b'))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(code(() => parseAuthorization('Bearer a=b'))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(code(() => parseAuthorization('Bearer "x"'))).toBe('GW_MALFORMED_AUTHORIZATION');
    // RFC 9110 §11.4: 1*SP after the scheme; a tab makes it malformed, not an unknown scheme.
    expect(code(() => parseAuthorization('Bearer\tabc'))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(code(() => parseAuthorization('dpop\t\tabc'))).toBe('GW_MALFORMED_AUTHORIZATION');
    expect(parseAuthorization('Basic\tabc').scheme).toBeUndefined();
  });
  it('CRED-3: a token in the query is refused, even without a header', () => {
    expect(code(() => extractCredentials(req([]), 'access_token=x', 8192))).toBe('GW_TOKEN_IN_QUERY');
    expect(code(() => extractCredentials(req([]), 'a=1&access%5Ftoken=x', 8192))).toBe('GW_TOKEN_IN_QUERY');
    expect(code(() => extractCredentials(req([]), 'my_access_token=x', 8192))).toBe('GW_NO_CREDENTIALS');
  });
  it('CRED-5: two Authorization fields, or header plus query, are multiple credentials', () => {
    expect(code(() => extractCredentials(req([['authorization', 'Bearer a'], ['authorization', 'Bearer b']]), '', 8192))).toBe('GW_MULTIPLE_CREDENTIALS');
    expect(code(() => extractCredentials(req([['authorization', 'Bearer a']]), 'access_token=b', 8192))).toBe('GW_MULTIPLE_CREDENTIALS');
  });
  it('CRED-6 / CRED-7: Basic or only Proxy-Authorization means no credentials', () => {
    expect(code(() => extractCredentials(req([['authorization', 'Basic dXNlcjpwYXNz']]), '', 8192))).toBe('GW_NO_CREDENTIALS');
    expect(code(() => extractCredentials(req([['proxy-authorization', 'DPoP abc']]), '', 8192))).toBe('GW_NO_CREDENTIALS');
  });
  it('CRED-8: oversized credential headers are refused', () => {
    expect(code(() => extractCredentials(req([['authorization', `Bearer ${'a'.repeat(9000)}`]]), '', 8192))).toBe('GW_HEADERS_TOO_LARGE');
    expect(code(() => extractCredentials(req([['authorization', 'DPoP a'], ['dpop', 'p'.repeat(9000)]]), '', 8192))).toBe('GW_HEADERS_TOO_LARGE');
  });
  it('DPOP-18 / M5: Bearer with a DPoP header is invalid_request', () => {
    expect(code(() => extractCredentials(req([['authorization', 'Bearer a'], ['dpop', 'p']]), '', 8192))).toBe('GW_BEARER_WITH_DPOP_PROOF');
  });
  it('DPOP-15 / M6: DPoP scheme without a proof is invalid_request', () => {
    expect(code(() => extractCredentials(req([['authorization', 'DPoP a']]), '', 8192))).toBe('GW_DPOP_PROOF_MISSING');
  });
  it('DPOP-1: every DPoP field is kept for counting', () => {
    expect(extractCredentials(req([['authorization', 'DPoP a'], ['dpop', 'p1'], ['dpop', 'p2']]), '', 8192).proofs).toEqual(['p1', 'p2']);
  });
});

describe('the parsed Authorization value and token SHA-256 (the token cache key), remembered per connection', () => {
  it('is the hex SHA-256 of the token, with or without a connection', () => {
    expect(acceptedAuthorization(undefined, 'Bearer abc').tokenSha256).toBe(sha256Hex('abc'));
    expect(extractCredentials(req([['authorization', 'Bearer t0k']]), '', 8192).tokenSha256).toBe(sha256Hex('t0k'));
  });

  it('never answers a new value with the previous value\'s scheme, token or hash on the same connection', () => {
    const conn = {};
    const seq = ['Bearer tok-a', 'Bearer tok-a', 'Bearer tok-b', 'DPoP tok-b', 'bearer  tok-b', 'Bearer tok-a', `Bearer tok-${'x'.repeat(2000)}`, `Bearer tok-${'x'.repeat(1999)}y`];
    for (const v of seq) {
      const proofs: [string, string][] = v.startsWith('DPoP') ? [['dpop', 'p']] : [];
      const c = extractCredentials(req([['authorization', v], ...proofs], conn), '', 8192);
      const t = v.slice(v.lastIndexOf(' ') + 1);
      expect([c.scheme, c.token, c.tokenSha256]).toEqual([v.toLowerCase().startsWith('bearer') ? 'bearer' : 'dpop', t, sha256Hex(t)]);
    }
  });

  it('CRED-2 / CRED-7: a refused value is never remembered, and refused again on the same connection', () => {
    const conn = {};
    expect(acceptedAuthorization(conn, 'Bearer ok').token).toBe('ok');
    for (let i = 0; i < 2; i++) {
      expect(code(() => extractCredentials(req([['authorization', 'Bearer a b']], conn), '', 8192))).toBe('GW_MALFORMED_AUTHORIZATION');
      expect(code(() => extractCredentials(req([['authorization', 'Basic dTpw']], conn), '', 8192))).toBe('GW_NO_CREDENTIALS');
    }
    expect(code(() => extractCredentials(req([['authorization', 'Bearer ok'], ['dpop', 'p']], conn), '', 8192))).toBe('GW_BEARER_WITH_DPOP_PROOF');
  });

  it('keeps connections apart', () => {
    const one = {};
    const two = {};
    expect(acceptedAuthorization(one, 'Bearer tok-1').tokenSha256).toBe(sha256Hex('tok-1'));
    expect(acceptedAuthorization(two, 'Bearer tok-2').tokenSha256).toBe(sha256Hex('tok-2'));
    expect(acceptedAuthorization(one, 'Bearer tok-1').tokenSha256).toBe(sha256Hex('tok-1'));
    expect(acceptedAuthorization(two, 'Bearer tok-1').tokenSha256).toBe(sha256Hex('tok-1'));
  });
});
