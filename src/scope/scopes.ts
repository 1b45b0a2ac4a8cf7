// TOK-6, ERR-4: the token's scopes must cover the route's rule, else 403 insufficient_scope with scope=.
import { GatewayError } from '../errors/gateway-error.js';
import type { Route, TokenClaims } from '../types.js';

export function checkScopes(claims: TokenClaims, route: Route): void {
  const { allOf, anyOf } = route.scopes;
  const has = new Set(claims.scopes);
  const missingAll = allOf.filter((s) => !has.has(s));
  const anyOk = anyOf.length === 0 || anyOf.some((s) => has.has(s));
  if (missingAll.length === 0 && anyOk) return;
  // All of all_of are needed, plus one of any_of; advertise the whole rule.
  const required = [...allOf, ...(anyOk ? [] : anyOf)].join(' ');
  throw new GatewayError('GW_INSUFFICIENT_SCOPE', `TOK-6 missing scope(s): ${[...missingAll, ...(anyOk ? [] : [`one of ${anyOf.join('|')}`])].join(', ')}`, {
    params: { scope: required },
  });
}
