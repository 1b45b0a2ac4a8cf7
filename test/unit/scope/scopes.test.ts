// TOK-6 / ERR-4: the route's scope rule (all of `all_of`, plus one of `any_of`) against the token's scopes.
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../src/errors/gateway-error.js';
import { checkScopes } from '../../../src/scope/scopes.js';
import type { Route, TokenClaims } from '../../../src/types.js';
import { gatewayErrorOf } from '../../support/contract.js';

const route = (allOf: string[], anyOf: string[] = []): Route => ({ scopes: { allOf, anyOf } }) as unknown as Route;
const token = (...scopes: string[]): TokenClaims => ({ scopes }) as unknown as TokenClaims;

const refusal = (claims: TokenClaims, r: Route): GatewayError => gatewayErrorOf(() => checkScopes(claims, r));

describe('checkScopes (TOK-6, ERR-4)', () => {
  it('TOK-6 accepts when every all_of scope is held, in any order, among others', () => {
    expect(() => checkScopes(token('payments', 'openid', 'accounts'), route(['accounts', 'payments']))).not.toThrow();
    expect(() => checkScopes(token(), route([]))).not.toThrow();
  });

  it('TOK-6 accepts one any_of scope, together with all_of', () => {
    expect(() => checkScopes(token('b'), route([], ['a', 'b']))).not.toThrow();
    expect(() => checkScopes(token('x', 'a'), route(['x'], ['a', 'b']))).not.toThrow();
  });

  it('TOK-6 / ERR-4 refuses a missing all_of scope with 403 insufficient_scope and scope= the rule', () => {
    const e = refusal(token('accounts'), route(['accounts', 'payments']));
    expect(e.code).toBe('GW_INSUFFICIENT_SCOPE');
    expect(e.status).toBe(403);
    expect(e.params).toEqual({ scope: 'accounts payments' });
    expect(e.message).toBe('TOK-6 missing scope(s): payments');
  });

  it('TOK-6 refuses when no any_of scope is held, and advertises all_of plus any_of', () => {
    const e = refusal(token('x'), route(['x'], ['a', 'b']));
    expect(e.params).toEqual({ scope: 'x a b' });
    expect(e.message).toBe('TOK-6 missing scope(s): one of a|b');
    const both = refusal(token(), route(['x'], ['a']));
    expect(both.message).toBe('TOK-6 missing scope(s): x, one of a');
  });

  it('TOK-6 compares exactly: no prefix, case or substring match', () => {
    for (const held of ['account', 'ACCOUNTS', 'accounts:read', 'accounts ']) {
      expect(refusal(token(held), route(['accounts'])).code).toBe('GW_INSUFFICIENT_SCOPE');
    }
  });
});
