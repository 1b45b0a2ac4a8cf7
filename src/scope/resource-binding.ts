// TOK-8, Q-9: a legacy upstream serves whatever account or consent the path names. On a route with
// `resource_binding`, the path segment after the route's prefix, and every value of its query_param,
// must be one the token grants, else 403 insufficient_scope (E6). A request naming none (the prefix
// itself, no such parameter) is the collection: only its collection methods pass. Compared exactly, after percent-decoding: any other spelling (case,
// `;param`) is refused, never passed unbound. RFC 9396 §2.2: an entry's permissions are its own
// actions x locations x datatypes, so the entry that grants the resource must itself meet the
// binding's rule and, when the route has authorization_details rules, one of those.
import { GatewayError } from '../errors/gateway-error.js';
import { queryValues } from '../route/query.js';
import type { ResourceBinding, Route, TokenClaims } from '../types.js';
import { entryMeets } from './authorization-details.js';

/** The segment after `prefix`, undefined for the prefix itself (with or without a trailing slash). */
export function boundSegment(path: string, prefix: string): string | undefined {
  if (path.length <= prefix.length + 1) return undefined;
  const rest = path.slice(prefix.length + 1);
  const end = rest.indexOf('/');
  return end === -1 ? rest : rest.slice(0, end);
}

export function checkResourceBinding(claims: TokenClaims, route: Route, method: string, path: string, query: string): void {
  const b = route.resourceBinding as ResourceBinding;
  const segment = b.prefix === undefined ? undefined : boundSegment(path, b.prefix);
  const values = b.queryParam === undefined || query === '' ? [] : queryValues(query, b.queryParam.canonical);
  if (segment === undefined && values.length === 0) {
    if (b.collectionMethods.has(method)) return;
    throw new GatewayError('GW_RESOURCE_NOT_GRANTED', `TOK-8 ${method} on ${path} names no resource, and is not one of resource_binding.collection_methods`);
  }
  if (segment !== undefined) {
    const value = decoded(segment);
    if (value === undefined || value === '' || !grants(claims, route, b, value)) {
      throw new GatewayError('GW_RESOURCE_NOT_GRANTED', `TOK-8 the token does not grant the resource ${JSON.stringify(segment.slice(0, 80))} after ${b.prefix || '/'} (${sources(b)})`);
    }
  }
  for (const value of values) {
    if (value === undefined || value === '' || !grants(claims, route, b, value)) {
      const shown = value === undefined ? 'that does not decode' : JSON.stringify(value.slice(0, 80));
      throw new GatewayError('GW_RESOURCE_NOT_GRANTED', `TOK-8 the token does not grant the resource ${shown} in query parameter ${b.queryParam?.name} (${sources(b)})`);
    }
  }
}

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // not UTF-8 once decoded: no grant can name it
  }
}

function grants(claims: TokenClaims, route: Route, b: ResourceBinding, value: string): boolean {
  if (b.scopePrefix !== undefined) {
    const wanted = b.scopePrefix + value;
    if (claims.scopes.includes(wanted)) return true;
  }
  if (b.details.length === 0 || claims.authorizationDetails === undefined) return false;
  const rules = route.authorizationDetails;
  for (const entry of claims.authorizationDetails) {
    for (const d of b.details) {
      if (!entryMeets(entry, d) || !holds(entry, d.path, 0, value)) continue;
      if (rules === undefined || rules.allOf.some((r) => entryMeets(entry, r)) || rules.anyOf.some((r) => entryMeets(entry, r))) return true;
    }
  }
  return false;
}

/** Whether `value` is a string at `path` under `node`, looking through arrays at every step. */
function holds(node: unknown, path: readonly string[], i: number, value: string): boolean {
  if (Array.isArray(node)) return node.some((x) => holds(x, path, i, value));
  if (i === path.length) return node === value;
  if (typeof node !== 'object' || node === null) return false;
  const next = path[i] as string;
  return Object.hasOwn(node, next) && holds((node as Record<string, unknown>)[next], path, i + 1, value);
}

/** For the log: where grants were looked for (never the token's values). */
function sources(b: ResourceBinding): string {
  const parts = b.details.map((d) => `authorization_details type ${d.type} ${d.path.join('.')}${d.actions.length + d.datatypes.length + d.locations.length > 0 ? ' (with its rule)' : ''}`);
  if (b.scopePrefix !== undefined) parts.push(`scope ${b.scopePrefix}<value>`);
  return `looked in ${parts.join(', ')}`;
}
