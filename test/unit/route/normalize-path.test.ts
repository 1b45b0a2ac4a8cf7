import { describe, expect, it } from 'vitest';
import { normaliseTarget } from '../../../src/route/normalize-path.js';

const ok = (t: string) => {
  const r = normaliseTarget(t);
  if (!r.ok) throw new Error(`refused ${t}: ${r.reason}`);
  return r;
};
const refused = (t: string) => expect(normaliseTarget(t).ok, t).toBe(false);

describe('path normalisation (routes)', () => {
  it('keeps plain paths and splits the query', () => {
    expect(ok('/accounts/123?x=1&y=2')).toEqual({ ok: true, path: '/accounts/123', query: 'x=1&y=2' });
    expect(ok('/')).toMatchObject({ path: '/', query: '' });
  });
  it('keeps the query as sent, and refuses a fragment there as in the path (RFC 9112 origin-form)', () => {
    expect(ok(`/a?x="1"&y=<2>&z=%41`).query).toBe(`x="1"&y=<2>&z=%41`);
    refused('/a?x=1#frag');
    refused('/a#frag');
  });
  it('decodes percent-encoded unreserved characters and upper-cases hex', () => {
    expect(ok('/acc%6Funts/%7euser/%c3%a9').path).toBe('/accounts/~user/%C3%A9');
  });
  it('removes single-dot segments', () => {
    expect(ok('/accounts/./123').path).toBe('/accounts/123');
    expect(ok('/accounts/.').path).toBe('/accounts/');
  });
  it('refuses dot-dot segments, raw or encoded (path confusion)', () => {
    refused('/accounts/../admin');
    refused('/accounts/%2e%2e/admin');
    refused('/accounts/%2E%2e');
    refused('/accounts/.%2e/admin');
  });
  it('refuses encoded slash, backslash and control characters', () => {
    refused('/accounts%2fadmin');
    refused('/accounts%2Fadmin');
    refused('/accounts%5cadmin');
    refused('/accounts\\admin');
    refused('/accounts%00');
    refused('/a%0d%0aX-Injected:1');
  });
  it('refuses invalid escapes and non-origin-form targets', () => {
    refused('/a%zz');
    refused('/a%4');
    refused('http://evil.example/accounts');
    refused('*');
    refused('evil.example:443');
  });
});
