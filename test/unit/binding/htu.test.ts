import { describe, expect, it } from 'vitest';
import { expectedHtu, normalizeHtu } from '../../../src/binding/htu.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';

const BASE = 'https://api.bank.example/accounts/123';

describe('normalizeHtu (DPOP-10)', () => {
  it('DPOP-10 keeps an already normal URL unchanged', () => {
    expect(normalizeHtu(BASE)).toBe(BASE);
  });

  it('DPOP-10(b) / CONF-D18 drops query and fragment', () => {
    expect(normalizeHtu(`${BASE}?x=1&y=%20#frag`)).toBe(BASE);
    expect(normalizeHtu(`${BASE}#only-fragment`)).toBe(BASE);
    expect(normalizeHtu(`${BASE}?`)).toBe(BASE);
  });

  it('DPOP-10(d) / CONF-D28 lower-cases scheme and host, not the path', () => {
    expect(normalizeHtu('HTTPS://API.BANK.EXAMPLE/Accounts/123')).toBe('https://api.bank.example/Accounts/123');
  });

  it('DPOP-10(d) / CONF-D29 drops the default port, keeps others', () => {
    expect(normalizeHtu('https://api.bank.example:443/accounts/123')).toBe(BASE);
    expect(normalizeHtu('http://api.bank.example:80/a')).toBe('http://api.bank.example/a');
    expect(normalizeHtu('https://api.bank.example:/a')).toBe('https://api.bank.example/a');
    expect(normalizeHtu('https://api.bank.example:8443/a')).toBe('https://api.bank.example:8443/a');
    expect(normalizeHtu('https://api.bank.example:08443/a')).toBe('https://api.bank.example:8443/a');
    expect(normalizeHtu('http://api.bank.example:443/a')).toBe('http://api.bank.example:443/a');
    expect(normalizeHtu('https://api.bank.example:65536/a')).toBeUndefined();
    expect(normalizeHtu('https://api.bank.example:44x/a')).toBeUndefined();
  });

  it('DPOP-10(d) removes dot segments', () => {
    expect(normalizeHtu('https://h.example/a/./b/../c')).toBe('https://h.example/a/c');
    expect(normalizeHtu('https://h.example/a/b/..')).toBe('https://h.example/a/');
    expect(normalizeHtu('https://h.example/../../a')).toBe('https://h.example/a');
    expect(normalizeHtu('https://h.example/a/.')).toBe('https://h.example/a/');
  });

  it('DPOP-10(d) turns an empty path into /', () => {
    expect(normalizeHtu('https://h.example')).toBe('https://h.example/');
    expect(normalizeHtu('https://h.example?q=1')).toBe('https://h.example/');
  });

  it('DPOP-10(d) upper-cases percent-encoding hex and decodes unreserved characters', () => {
    expect(normalizeHtu('https://h.example/a%2fb%c3%a9')).toBe('https://h.example/a%2Fb%C3%A9');
    expect(normalizeHtu('https://h.example/%7Euser/%41%2D%5f%2e')).toBe('https://h.example/~user/A-_.');
    // Decoded dots are dot segments.
    expect(normalizeHtu('https://h.example/a/%2E%2E/b')).toBe('https://h.example/b');
    expect(normalizeHtu('https://H.EXAMPLE%2d1/a')).toBe('https://h.example-1/a');
  });

  it('DPOP-10(c) refuses userinfo', () => {
    expect(normalizeHtu('https://user@api.bank.example/accounts/123')).toBeUndefined();
    expect(normalizeHtu('https://user:pw@api.bank.example/accounts/123')).toBeUndefined();
    expect(normalizeHtu('https://@api.bank.example/')).toBeUndefined();
  });

  it('DPOP-10(a) refuses anything but an absolute http(s) URI', () => {
    for (const bad of [
      '',
      '/accounts/123',
      '//api.bank.example/a',
      'api.bank.example/a',
      'ftp://api.bank.example/a',
      'wss://api.bank.example/a',
      'https:/api.bank.example/a',
      'https:api.bank.example/a',
      'https:///a',
      'https://api.bank.example/a b',
      'https://api.bank.example/a\\b',
      ' https://api.bank.example/a',
      'https://api.bank.example/a\n',
      'https://api.bank.example/%zz',
      'https://api.bank.example/%4',
      'https://api bank.example/a',
      'https://[::1/a',
      'https://[::1]x/a',
      'https://api.bank.example/a?q=<x>',
      'https://api.bank.example/é',
    ]) {
      expect(normalizeHtu(bad), bad).toBeUndefined();
    }
  });

  it('DPOP-10 accepts IPv6 literals and lower-cases them', () => {
    expect(normalizeHtu('https://[2001:DB8::1]:443/a')).toBe('https://[2001:db8::1]/a');
    expect(normalizeHtu('https://[::1]:8443')).toBe('https://[::1]:8443/');
  });

  it('DPOP-10(e) expectedHtu joins the public origin and the normalised path', () => {
    expect(expectedHtu('https://API.bank.example', '/accounts/123')).toBe(BASE);
    expect(expectedHtu('https://api.bank.example/', '/accounts/123')).toBe(BASE);
    expect(expectedHtu('https://api.bank.example:443', '/')).toBe('https://api.bank.example/');
    expect(normalizeHtu('HTTPS://API.BANK.EXAMPLE:443/accounts/./123?x#y')).toBe(expectedHtu('https://api.bank.example', '/accounts/123'));
  });

  it('DPOP-10 expectedHtu refuses a bad origin with GW_INTERNAL', () => {
    expect(() => expectedHtu('api.bank.example', '/a')).toThrow(GatewayError);
    try {
      expectedHtu('https://u@api.bank.example', '/a');
      expect.unreachable();
    } catch (e) {
      expect((e as GatewayError).code).toBe('GW_INTERNAL');
    }
  });
});
