// Query parameter names as upstream frameworks read them (route/query.ts): the one reading behind
// CRED-3's access_token check, the _method refusal, upstream.url's fixed parameters and TOK-8's
// query_param binding. Each spelling below is one a common framework reads as the plain name.
import { describe, expect, it } from 'vitest';
import { checkFixedQuery, checkMethodOverride, nameReadsAs, queryHas, queryValues } from '../../../src/route/query.js';
import { gatewayErrorOf } from '../../support/contract.js';

describe('nameReadsAs', () => {
  it.each([
    ['accountId', 'plain'],
    ['ACCOUNTID', 'ASP.NET: any case'],
    ['accountId[]', 'PHP, qs: name[]'],
    ['accountId[x]', 'PHP, qs: name[key]'],
    ['account%49d', 'percent-encoded letter'],
    ['account%49d%00%', 'PHP: per-escape decoding, NUL ends the name, stray %'],
    ['accountId%5B%5D%', 'PHP: encoded [] then a stray %'],
    ['account%u0049d', 'ASP.NET: %u escape'],
    ['[accountId]', 'qs: leading bracket'],
    ['%5BaccountId%5D', 'qs: encoded brackets'],
    ['accountId]', 'Rack 2: trailing bracket'],
    [']accountId', 'Rack 2: leading bracket'],
    ['+accountId', 'PHP: leading space'],
  ])('%s reads as accountId (%s)', (raw) => {
    expect(nameReadsAs(raw, 'accountid')).toBe(true);
  });

  it.each(['accountIds', 'xaccountId', 'account', 'account_Id', 'accountId2'])('%s does not', (raw) => {
    expect(nameReadsAs(raw, 'accountid')).toBe(false);
  });

  it('PHP reads . and space in a name as _', () => {
    expect(nameReadsAs('access.token', 'access_token')).toBe(true);
    expect(nameReadsAs('access+token', 'access_token')).toBe(true);
    expect(queryHas('a=1;access.token=x', 'access_token')).toBe(true);
  });
});

describe('queryValues (TOK-8)', () => {
  it('with a ;, the values both as ;-splitting and as &-only parsers read them', () => {
    expect(queryValues('accountId=A;,B', 'accountid')).toEqual(['A', 'A;,B']);
    expect(queryValues('accountId=A&x=1', 'accountid')).toEqual(['A']);
    expect(queryValues('[accountId]=B&accountId=A', 'accountid')).toEqual(['B', 'A']);
  });
});

describe('the other query checks read names the same way', () => {
  it('a _method in any spelling is refused; other names pass', () => {
    for (const q of ['_method%00%=DELETE', '[_method]=DELETE', '_method]=DELETE', '_%6Dethod=DELETE', '%5Fmethod=DELETE', 'x=1;_METHOD=PUT']) {
      expect(gatewayErrorOf(() => checkMethodOverride(q)).code, q).toBe('GW_BAD_REQUEST');
    }
    for (const q of ['payment_method=card', 'x=_method', 'methods=1']) expect(() => checkMethodOverride(q), q).not.toThrow();
  });

  it('a parameter fixed by upstream.url cannot be sent again in any spelling (PHP and Rack 2: the last value wins)', () => {
    const fixed = new Set(['tenant']);
    for (const q of ['tenant=evil', 'tenant%00%=evil', ']tenant=evil', '[tenant]=evil', 'TENANT=evil']) {
      expect(gatewayErrorOf(() => checkFixedQuery(q, fixed)).code, q).toBe('GW_BAD_REQUEST');
    }
    expect(() => checkFixedQuery('tenants=1&page=2', fixed)).not.toThrow();
  });
});
