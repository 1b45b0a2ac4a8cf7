// Found in review (fixed; the test failed before): names are compared "as the most lenient
// upstream parser reads them" (PHP), but two PHP spellings are missed, so a client can still set a
// parameter the route's upstream.url fixes (http-proxy-3 appends the client's query; PHP's last wins):
// - an unterminated `[`: php_register_variable_ex replaces that `[` with `_` ("tenant[id" -> "tenant_id"),
//   while canonicalName cuts everything from the `[` ("tenant").
// - a NUL in the name: PHP takes strlen() of the decoded name ("tenant_id%00x" -> "tenant_id").
import { describe, expect, it } from 'vitest';
import { checkFixedQuery, fixedQueryNames } from '../../src/route/query.js';

const fixed = fixedQueryNames(new URL('http://legacy.internal/api?tenant_id=bank1')) as ReadonlySet<string>;

describe('fixed upstream.url parameters in PHP spellings', () => {
  it('?tenant[id=bank2 (PHP reads tenant_id) is refused', () => {
    expect(() => checkFixedQuery('tenant[id=bank2', fixed)).toThrow(/fixed by the route/);
  });
  it('?tenant%5Bid=bank2 (PHP reads tenant_id) is refused', () => {
    expect(() => checkFixedQuery('tenant%5Bid=bank2', fixed)).toThrow(/fixed by the route/);
  });
  it('?tenant_id%00x=bank2 (PHP reads tenant_id) is refused', () => {
    expect(() => checkFixedQuery('tenant_id%00x=bank2', fixed)).toThrow(/fixed by the route/);
  });
});
