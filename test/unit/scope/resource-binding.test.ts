// TOK-8, Q-9: the path segment after the route's prefix must be a resource the token grants.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';
import { boundSegment, checkResourceBinding } from '../../../src/scope/resource-binding.js';
import type { Route, TokenClaims } from '../../../src/types.js';
import { gatewayErrorOf } from '../../support/contract.js';

const config = (binding: unknown, match: Record<string, unknown> = { methods: ['GET'], path_prefix: '/accounts' }) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [{ id: 'acct', match, auth: { issuers: ['as'], audience: 'https://api.test', resource_binding: binding }, upstream: { url: 'http://127.0.0.1:1' } }],
});
const routeWith = (binding: unknown, prefix = '/accounts'): Route =>
  compileRouteTable(parseConfig(stringify(config(binding, { methods: ['GET'], path_prefix: prefix })), '/tmp/gateway.yaml', {})).routes[0] as Route;
const token = (c: Partial<TokenClaims>): TokenClaims => ({ scopes: [], ...c }) as unknown as TokenClaims;
const outcome = (claims: TokenClaims, r: Route, path: string): string => {
  try {
    checkResourceBinding(claims, r, path);
    return 'granted';
  } catch {
    return gatewayErrorOf(() => checkResourceBinding(claims, r, path)).code;
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
    const e = gatewayErrorOf(() => checkResourceBinding(t, details, '/accounts/DE89370400440532013000'));
    expect({ status: e.status, error: e.entry.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    // The log names the segment and where grants were looked for, never the token's values.
    expect(e.message).toBe('TOK-8 the token does not grant the resource "DE89370400440532013000" after /accounts (looked in authorization_details type account_information accounts)');
    expect(e.message).not.toContain('DE02100100109307118603');
    // The collection itself names no resource.
    expect(outcome(t, details, '/accounts')).toBe('granted');
    expect(outcome(t, details, '/accounts/')).toBe('granted');
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
    expect(problems(config({ scope_prefix: 'a:' }, { methods: ['GET'], path: '/accounts/1' })).join()).toMatch(/resource_binding needs match\.path_prefix/);
    expect(problems(config({ authorization_details: [{ type: 't', field: 'a..b' }] })).join()).toMatch(/dotted path/);
    expect(problems(config({ authorization_details: [] })).join()).toMatch(/authorization_details/);
    expect(problems(config({ scope_prefix: 'has space' })).join()).toMatch(/scope_prefix/);
    expect(problems(config({ authorization_details: [{ type: 't' }], scope_prefix: 'a:' }))).toEqual([]);
  });
});
