// TOK-8, Q-9: the path segment after the route's prefix must be a resource the token grants.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';
import { checkBoundTarget as checkTarget } from '../../../src/route/bound-target.js';
import { boundSegment, checkResourceBinding } from '../../../src/scope/resource-binding.js';
import type { ResourceBinding, Route, TokenClaims } from '../../../src/types.js';
import { gatewayErrorOf } from '../../support/contract.js';

const config = (binding: unknown, match: Record<string, unknown> = { methods: ['GET'], path_prefix: '/accounts' }) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [{ id: 'acct', match, auth: { issuers: ['as'], audience: 'https://api.test', resource_binding: binding }, upstream: { url: 'http://127.0.0.1:1' } }],
});
const routeWith = (binding: unknown, prefix = '/accounts', details?: unknown): Route => {
  const c = config(binding, { methods: ['GET', 'POST', 'DELETE'], path_prefix: prefix });
  if (details !== undefined) Object.assign(c.routes[0]?.auth as object, { authorization_details: details });
  return compileRouteTable(parseConfig(stringify(c), '/tmp/gateway.yaml', {})).routes[0] as Route;
};
const token = (c: Partial<TokenClaims>): TokenClaims => ({ scopes: [], ...c }) as unknown as TokenClaims;
/** `target`: path and query, as normalised. */
const check = (claims: TokenClaims, r: Route, method: string, target: string): void => {
  const q = target.indexOf('?');
  checkResourceBinding(claims, r, method, q === -1 ? target : target.slice(0, q), q === -1 ? '' : target.slice(q + 1));
};
const outcome = (claims: TokenClaims, r: Route, path: string, method = 'GET'): string => {
  try {
    check(claims, r, method, path);
    return 'granted';
  } catch {
    return gatewayErrorOf(() => check(claims, r, method, path)).code;
  }
};

const ACCOUNTS = { type: 'account_information', accounts: ['DE02100100109307118603', 'acc 7'], actions: ['read'] };
const PAYMENT = { type: 'payment_initiation', creditorAccount: [{ iban: 'DE75512108001245126199' }], identifier: 'pay-1' };

describe('boundSegment', () => {
  it('is the first segment after the prefix; the prefix alone (with or without /) names none', () => {
    expect(boundSegment('/accounts/123', '/accounts')).toBe('123');
    expect(boundSegment('/accounts/123/transactions', '/accounts')).toBe('123');
    expect(boundSegment('/accounts', '/accounts')).toBeUndefined();
    expect(boundSegment('/accounts/', '/accounts')).toBeUndefined();
    expect(boundSegment('/accounts//123', '/accounts')).toBe('');
    expect(boundSegment('/x/y', '')).toBe('x');
    expect(boundSegment('/', '')).toBeUndefined();
  });
});

describe('TOK-8 checkResourceBinding', () => {
  const details = routeWith({ authorization_details: [{ type: 'account_information', field: 'accounts' }] });

  it('grants a segment listed at the field of an entry of the type; refuses any other (403 insufficient_scope)', () => {
    const t = token({ authorizationDetails: [ACCOUNTS] });
    expect(outcome(t, details, '/accounts/DE02100100109307118603/balances')).toBe('granted');
    expect(outcome(t, details, '/accounts/DE89370400440532013000')).toBe('GW_RESOURCE_NOT_GRANTED');
    const e = gatewayErrorOf(() => check(t, details, 'GET', '/accounts/DE89370400440532013000'));
    expect({ status: e.status, error: e.entry.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    // The log names the segment and where grants were looked for, never the token's values.
    expect(e.message).toBe('TOK-8 the token does not grant the resource "DE89370400440532013000" after /accounts (looked in authorization_details type account_information accounts)');
    expect(e.message).not.toContain('DE02100100109307118603');
    // The collection itself names no resource: its methods (GET, HEAD, POST by default) pass.
    expect(outcome(t, details, '/accounts')).toBe('granted');
    expect(outcome(t, details, '/accounts/', 'POST')).toBe('granted');
    expect(outcome(token({}), details, '/accounts')).toBe('granted');
  });

  it('collection_methods: another method on the prefix itself is refused (a DELETE of the collection names no resource)', () => {
    expect(outcome(token({}), details, '/accounts', 'DELETE')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(gatewayErrorOf(() => check(token({}), details, 'DELETE', '/accounts/')).message).toBe(
      'TOK-8 DELETE on /accounts/ names no resource, and is not one of resource_binding.collection_methods',
    );
    const listOnly = routeWith({ scope_prefix: 'a:', collection_methods: ['GET'] });
    expect(outcome(token({}), listOnly, '/accounts', 'POST')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(outcome(token({}), listOnly, '/accounts', 'GET')).toBe('granted');
  });

  it('RFC 9396 §2.2: the entry that grants must itself meet the binding rule and one of the route\'s rules (no union of entries)', () => {
    const listA = { type: 'account_information', actions: ['list_accounts', 'read_balances'], accounts: ['A'] };
    const listB = { type: 'account_information', actions: ['list_accounts'], accounts: ['B'] };
    const elsewhere = { type: 'account_information', actions: ['read_balances'], locations: ['https://other-rs.example'], accounts: ['C'] };
    const t = token({ authorizationDetails: [listA, listB, elsewhere] });
    const ruled = routeWith(
      { authorization_details: [{ type: 'account_information', field: 'accounts' }] },
      '/accounts',
      { all_of: [{ type: 'account_information', actions: ['read_balances'], locations: ['https://api.test'] }] },
    );
    // listA meets the route rule only if it lists the location: it does not, so nothing grants.
    expect(outcome(t, ruled, '/accounts/A/balances')).toBe('GW_RESOURCE_NOT_GRANTED');
    const here = { ...listA, locations: ['https://api.test'] };
    const t2 = token({ authorizationDetails: [here, listB, elsewhere] });
    expect(outcome(t2, ruled, '/accounts/A/balances')).toBe('granted');
    expect(outcome(t2, ruled, '/accounts/B/balances')).toBe('GW_RESOURCE_NOT_GRANTED'); // its entry lacks read_balances
    expect(outcome(t2, ruled, '/accounts/C/balances')).toBe('GW_RESOURCE_NOT_GRANTED'); // its entry is for another RS
    // The binding's own rule, without route rules: the same, on the granting entry.
    const own = routeWith({ authorization_details: [{ type: 'account_information', field: 'accounts', actions: ['read_balances'] }] });
    expect(outcome(t, own, '/accounts/A')).toBe('granted');
    expect(outcome(t, own, '/accounts/B')).toBe('GW_RESOURCE_NOT_GRANTED');
  });

  it('compares exactly after percent-decoding: another spelling is refused, never passed unbound', () => {
    const t = token({ authorizationDetails: [ACCOUNTS] });
    expect(outcome(t, details, '/accounts/acc%207')).toBe('granted');
    for (const p of ['/accounts/de02100100109307118603', '/accounts/DE02100100109307118603;x=1', '/accounts//DE02100100109307118603', '/accounts/acc+7', '/accounts/%C3', '/accounts/DE02100100109307118603%20']) {
      expect(outcome(t, details, p), p).toBe('GW_RESOURCE_NOT_GRANTED');
    }
  });

  it('only entries of the type count, the field is read through arrays and objects, identifier by default', () => {
    const t = token({ authorizationDetails: [{ type: 'other', accounts: ['DE02100100109307118603'] }, PAYMENT, 'junk', null] });
    expect(outcome(t, details, '/accounts/DE02100100109307118603')).toBe('GW_RESOURCE_NOT_GRANTED');
    const iban = routeWith({ authorization_details: [{ type: 'payment_initiation', field: 'creditorAccount.iban' }] });
    expect(outcome(t, iban, '/accounts/DE75512108001245126199')).toBe('granted');
    const byId = routeWith({ authorization_details: [{ type: 'payment_initiation' }] }, '/payments');
    expect(outcome(t, byId, '/payments/pay-1/status')).toBe('granted');
    expect(outcome(t, byId, '/payments/pay-2')).toBe('GW_RESOURCE_NOT_GRANTED');
    // A member inherited from Object.prototype is not a grant.
    const proto = routeWith({ authorization_details: [{ type: 'payment_initiation', field: 'constructor.name' }] }, '/payments');
    expect(outcome(t, proto, '/payments/Object')).toBe('GW_RESOURCE_NOT_GRANTED');
    // No authorization_details at all.
    expect(outcome(token({}), details, '/accounts/x')).toBe('GW_RESOURCE_NOT_GRANTED');
  });

  it('scope_prefix: a scope naming the resource after the prefix grants it (Brazil-style consent scopes)', () => {
    const r = routeWith({ scope_prefix: 'consent:' }, '/consents');
    const t = token({ scopes: ['openid', 'consent:urn:bank:c-42'] });
    expect(outcome(t, r, '/consents/urn:bank:c-42')).toBe('granted');
    expect(outcome(t, r, '/consents/urn:bank:c-43')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(outcome(token({ scopes: ['consent:'] }), r, '/consents/x')).toBe('GW_RESOURCE_NOT_GRANTED');
    const both = routeWith({ scope_prefix: 'account:', authorization_details: [{ type: 'account_information', field: 'accounts' }] });
    expect(outcome(token({ scopes: ['account:a1'], authorizationDetails: [ACCOUNTS] }), both, '/accounts/a1')).toBe('granted');
    expect(outcome(token({ scopes: ['account:a1'], authorizationDetails: [ACCOUNTS] }), both, '/accounts/DE02100100109307118603')).toBe('granted');
  });
});

describe('TOK-8 query_param: every value of the parameter, in every spelling an upstream reads', () => {
  const t = token({ authorizationDetails: [ACCOUNTS] });
  const both = routeWith({ authorization_details: [{ type: 'account_information', field: 'accounts' }], query_param: 'accountId' });
  const MINE = 'DE02100100109307118603';

  it('binds the parameter beside the path segment; a request naming neither is the collection', () => {
    expect(outcome(t, both, `/accounts?accountId=${MINE}`)).toBe('granted');
    expect(outcome(t, both, `/accounts/${MINE}?accountId=${MINE}&from=2026-01-01`)).toBe('granted');
    expect(outcome(t, both, '/accounts?accountId=DE89370400440532013000')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(outcome(t, both, `/accounts/${MINE}?accountId=other`)).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(outcome(t, both, '/accounts?from=2026-01-01')).toBe('granted');
    expect(outcome(t, both, '/accounts?from=2026-01-01', 'DELETE')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(gatewayErrorOf(() => check(t, both, 'GET', '/accounts?accountId=other')).message).toBe(
      'TOK-8 the token does not grant the resource "other" in query parameter accountId (looked in authorization_details type account_information accounts)',
    );
  });

  it('every occurrence and spelling counts (a framework may read the first, the last, any case, name[], after ;)', () => {
    for (const q of [`accountId=${MINE}&accountId=other`, `accountId=other&accountId=${MINE}`, `accountId=${MINE}&ACCOUNTID=other`, `accountId=${MINE}&accountId[]=other`, `accountId=${MINE};accountId=other`, `accountId=${MINE}&%61ccountId=other`, `accountId=${MINE}&accountId`]) {
      expect(outcome(t, both, `/accounts?${q}`), q).toBe('GW_RESOURCE_NOT_GRANTED');
    }
    expect(outcome(t, both, `/accounts?ACCOUNTID=${MINE}&accountid[]=${MINE}`)).toBe('granted');
    expect(outcome(t, both, `/accounts?accountId=%44E02100100109307118603`)).toBe('granted');
  });

  it('a + is a space to some upstreams and a plus to others: both readings must be granted', () => {
    const spaced = token({ authorizationDetails: [{ ...ACCOUNTS, accounts: ['acc 7'] }] });
    expect(outcome(spaced, both, '/accounts?accountId=acc%207')).toBe('granted');
    expect(outcome(spaced, both, '/accounts?accountId=acc+7')).toBe('GW_RESOURCE_NOT_GRANTED');
    const plusAndSpace = token({ authorizationDetails: [{ ...ACCOUNTS, accounts: ['acc 7', 'acc+7'] }] });
    expect(outcome(plusAndSpace, both, '/accounts?accountId=acc+7')).toBe('granted');
    expect(outcome(plusAndSpace, both, '/accounts?accountId=%ZZ')).toBe('GW_RESOURCE_NOT_GRANTED');
  });

  it('an exact-path route can bind by query_param alone', () => {
    const c = config({ scope_prefix: 'account:', query_param: 'account' }, { methods: ['GET'], path: '/balances' });
    const r = compileRouteTable(parseConfig(stringify(c), '/tmp/gateway.yaml', {})).routes[0] as Route;
    expect(outcome(token({ scopes: ['account:a1'] }), r, '/balances?account=a1')).toBe('granted');
    expect(outcome(token({ scopes: ['account:a1'] }), r, '/balances?account=a2')).toBe('GW_RESOURCE_NOT_GRANTED');
    expect(outcome(token({ scopes: ['account:a1'] }), r, '/balances')).toBe('granted');
  });
});

describe('TOK-8 checkBoundTarget: what an upstream decoding again could read otherwise (400)', () => {
  const both = routeWith({ authorization_details: [{ type: 'account_information', field: 'accounts' }], query_param: 'accountId' });
  const checkBoundTarget = (r: Route, path: string, query: string): void => checkTarget(r.resourceBinding as ResourceBinding, path, query);
  const target = (r: Route, t: string): string => {
    const q = t.indexOf('?');
    try {
      checkBoundTarget(r, q === -1 ? t : t.slice(0, q), q === -1 ? '' : t.slice(q + 1));
      return 'ok';
    } catch {
      return gatewayErrorOf(() => checkBoundTarget(r, q === -1 ? t : t.slice(0, q), q === -1 ? '' : t.slice(q + 1))).message;
    }
  };

  it.each([
    ['/accounts/A%2549/x', /an encoded % \(%25\) in the path/],
    ['/accounts/A/%252e%252e/B', /%25/],
    ['/accounts/A/%C0%AE%C0%AE/B', /an escape that is not UTF-8 in the path/],
    ['/accounts/A/%EF%BC%8E%EF%BC%8E/B', /a character Unicode normalisation changes in the path/],
    ['/accounts?account%2549d=B', /in the query/],
    ['/accounts?accountId=A%252C', /in the query/],
    ['/accounts?accountId=%EF%BC%A1', /Unicode normalisation/],
    ['/accounts?account%u0049d=B', /not UTF-8 in the query/],
  ])('%s is refused', (t, why) => {
    expect(target(both, t)).toMatch(why);
    expect(gatewayErrorOf(() => checkBoundTarget(both, t.split('?')[0] as string, t.split('?')[1] ?? '')).code).toBe('GW_BAD_REQUEST');
  });

  it.each(['/accounts/A/transactions', '/accounts/caf%C3%A9', '/accounts?accountId=A&q=10%25', '/accounts?accountId=A&name=%EF%BC%A1', '/accounts?accountId=caf%C3%A9'])('%s passes', (t) => {
    expect(target(both, t)).toBe('ok');
  });

  it('a route bound by its query alone does not look at its path', () => {
    const c = config({ scope_prefix: 'account:', query_param: 'account' }, { methods: ['GET'], path: '/balances' });
    const r = compileRouteTable(parseConfig(stringify(c), '/tmp/gateway.yaml', {})).routes[0] as Route;
    expect(target(r, '/balances?account=a1')).toBe('ok');
    expect(target(r, '/balances?account=a%25')).toMatch(/%25/);
  });
});

describe('TOK-8 resource_binding config', () => {
  const problems = (c: unknown): string[] => {
    try {
      parseConfig(stringify(c), '/tmp/gateway.yaml', {});
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  };
  it('needs a source, a path_prefix route, and a field that is a dotted member path', () => {
    expect(problems(config({}))).toEqual(['routes[0].auth.resource_binding: set authorization_details, scope_prefix or both']);
    expect(problems(config({ scope_prefix: 'a:' }, { methods: ['GET'], path: '/accounts/1' })).join()).toMatch(/resource_binding needs match\.path_prefix .* or query_param/);
    expect(problems(config({ scope_prefix: 'a:', query_param: 'a b' })).join()).toMatch(/query_param/);
    expect(problems(config({ authorization_details: [{ type: 't', field: 'a..b' }] })).join()).toMatch(/dotted path/);
    expect(problems(config({ authorization_details: [] })).join()).toMatch(/authorization_details/);
    expect(problems(config({ scope_prefix: 'has space' })).join()).toMatch(/scope_prefix/);
    expect(problems(config({ authorization_details: [{ type: 't' }], scope_prefix: 'a:' }))).toEqual([]);
    // With the route's own authorization_details rules, a binding type none of them names could never grant.
    const ruled = config({ authorization_details: [{ type: 'payment_initiation' }] });
    Object.assign(ruled.routes[0]?.auth as object, { authorization_details: { all_of: [{ type: 'account_information' }] } });
    expect(problems(ruled)).toEqual([
      "routes[0].auth.resource_binding.authorization_details[0].type: payment_initiation is in none of the route's authorization_details rules, so no entry of it could grant",
    ]);
    expect(problems(config({ scope_prefix: 'a:', collection_methods: ['TRACE'] })).join()).toMatch(/collection_methods/);
  });
});
