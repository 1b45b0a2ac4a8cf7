// TOK-6, ERR-4: the token's scopes must cover the route's rule, else 403 insufficient_scope with scope=.
import { GatewayError } from '../errors/gateway-error.js';
import type { Route, TokenClaims } from '../types.js';

export function checkScopes(claims: TokenClaims, route: Route): void {
  const { allOf, anyOf } = route.scopes;
  const has = claims.scopes;
  // Plain loops over short lists: no Set or closure per request (tokens come from the AS, lists are short).
  let allOk = true;
  for (let i = 0; allOk && i < allOf.length; i++) allOk = has.includes(allOf[i] as string);
  let anyOk = anyOf.length === 0;
  for (let i = 0; !anyOk && i < anyOf.length; i++) anyOk = has.includes(anyOf[i] as string);
  if (allOk && anyOk) return;
  const missingAll = allOf.filter((s) => !has.includes(s));
  // All of all_of are needed, plus one of any_of; advertise the whole rule.
  const required = [...allOf, ...(anyOk ? [] : anyOf)].join(' ');
  throw new GatewayError('GW_INSUFFICIENT_SCOPE', `TOK-6 missing scope(s): ${[...missingAll, ...(anyOk ? [] : [`one of ${anyOf.join('|')}`])].join(', ')}`, {
    params: { scope: required },
  });
}
