// TOK-7 (RFC 9396): the route's `authorization_details` rules against the token's entries. Each rule of
// all_of, and one of any_of, must be met by some entry; else 403 insufficient_scope (E6) without scope=,
// since no scope would help.
import { GatewayError } from '../errors/gateway-error.js';
import type { DetailRule, Route, TokenClaims } from '../types.js';

export function checkAuthorizationDetails(claims: TokenClaims, route: Route): void {
  const rule = route.authorizationDetails;
  if (rule === undefined) return;
  const entries = claims.authorizationDetails ?? [];
  const unmet = rule.allOf.filter((r) => !entries.some((e) => entryMeets(e, r)));
  const anyMet = rule.anyOf.length === 0 || rule.anyOf.some((r) => entries.some((e) => entryMeets(e, r)));
  if (unmet.length === 0 && anyMet) return;
  const missing = [...unmet.map(describe), ...(anyMet ? [] : [`one of ${rule.anyOf.map(describe).join(' | ')}`])];
  const held = claims.authorizationDetails === undefined ? 'none' : `types ${JSON.stringify(entries.map(typeOf)).slice(0, 200)}`;
  throw new GatewayError('GW_INSUFFICIENT_AUTHORIZATION_DETAILS', `TOK-7 missing authorization_details: ${missing.join(', ')} (token has ${held})`);
}

/** One entry meets one rule: same `type`, all its actions and datatypes, one of its locations. */
export function entryMeets(entry: unknown, r: DetailRule): boolean {
  if (typeof entry !== 'object' || entry === null) return false;
  const e = entry as Record<string, unknown>;
  return (
    e.type === r.type &&
    holdsAll(e.actions, r.actions) &&
    holdsAll(e.datatypes, r.datatypes) &&
    (r.locations.length === 0 || r.locations.some((l) => holds(e.locations, l)))
  );
}

function holdsAll(list: unknown, wanted: readonly string[]): boolean {
  return wanted.every((w) => holds(list, w));
}

/** RFC 9396 §2.2: these members are arrays of strings; anything else holds nothing. */
function holds(list: unknown, value: string): boolean {
  return Array.isArray(list) && list.includes(value);
}

/** For the log: string types, shortened; anything else by its kind (never its content). */
function typeOf(entry: unknown): string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return '(not an object)';
  const t = (entry as Record<string, unknown>).type;
  return typeof t === 'string' ? t.slice(0, 64) : `(type is ${t === null ? 'null' : typeof t})`;
}

function describe(r: DetailRule): string {
  const parts = [r.type];
  if (r.actions.length > 0) parts.push(`actions ${r.actions.join('+')}`);
  if (r.datatypes.length > 0) parts.push(`datatypes ${r.datatypes.join('+')}`);
  if (r.locations.length > 0) parts.push(`location ${r.locations.join('|')}`);
  return parts.join(' ');
}
