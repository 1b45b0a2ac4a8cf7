// TOK-8 on the request target, before the token is looked at (route stage, as the fixed-query check):
// a route that binds resources must not forward what an upstream reading the target otherwise than
// the gateway (decoding twice, normalising Unicode) could take for another resource.
import { GatewayError } from '../errors/gateway-error.js';
import type { ResourceBinding } from '../types.js';
import { nameReadsAs } from './query.js';

/** What only an upstream that decodes again, or normalises Unicode, could read as another resource. */
function ambiguity(text: string): string | undefined {
  if (/%25/i.test(text)) return 'an encoded % (%25)';
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    return 'an escape that is not UTF-8';
  }
  // Full-width dots and slashes, ligatures: NFKC (some upstreams apply it) turns them into others.
  if (/[^\x00-\x7f]/.test(decoded) && decoded.normalize('NFKC') !== decoded) return 'a character Unicode normalisation changes';
  return undefined;
}

/**
 * TOK-8, before the token is looked at: on a bound route, nothing in the path (or, with query_param, in
 * the query's names and the bound values) that an upstream decoding twice or normalising Unicode could
 * read otherwise than the gateway did (`%2549` is `I` to it, `%EF%BC%8E` a dot). 400.
 */
export function checkBoundTarget(b: ResourceBinding, path: string, query: string): void {
  const refuse = (why: string, where: string): never => {
    throw new GatewayError('GW_BAD_REQUEST', `TOK-8 ${why} in the ${where} of a route that binds resources (an upstream decoding again could read another resource)`);
  };
  if (b.prefix !== undefined) {
    const why = ambiguity(path);
    if (why !== undefined) refuse(why, 'path');
  }
  if (b.queryParam === undefined || query === '') return;
  for (const pair of query.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    const why = ambiguity(name.replace(/\+/g, ' ')) ?? (eq !== -1 && nameReadsAs(name, b.queryParam.canonical) ? ambiguity(pair.slice(eq + 1).replace(/\+/g, ' ')) : undefined);
    if (why !== undefined) refuse(why, 'query');
  }
}
