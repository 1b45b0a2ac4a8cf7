// Query parameter names as an application would read them (`+` is a space, percent-escapes decoded;
// a malformed escape is kept as written), without parsing the values.
import { GatewayError } from '../errors/gateway-error.js';

/** Decoded name of each `name[=value]` pair of a raw query (no leading `?`). */
export function queryNames(query: string): string[] {
  if (query === '') return [];
  return query.split('&').map((pair) => {
    const name = pair.split('=', 1)[0] as string;
    try {
      return decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      return name;
    }
  });
}

/**
 * The parameters an upstream.url fixes (a tenant, a key the legacy upstream expects): http-proxy-3
 * appends the client's query to them, so a client repeating one would send the upstream a second value.
 */
export function fixedQueryNames(url: URL): ReadonlySet<string> | undefined {
  const names = new Set([...url.searchParams.keys()].map(canonicalName));
  return names.size === 0 ? undefined : names;
}

/**
 * A name as the most lenient upstream parser reads it: PHP ends a name at NUL, drops leading spaces,
 * reads `name[]` and `name[x]` as `name` but an unclosed `name[x` as `name_x`, and turns `.` and
 * spaces into `_`; ASP.NET ignores case.
 */
export function canonicalName(name: string): string {
  let n = name;
  const nul = n.indexOf('\0');
  if (nul !== -1) n = n.slice(0, nul);
  n = n.replace(/^ +/, '');
  const open = n.indexOf('[');
  if (open !== -1) n = n.includes(']', open) ? n.slice(0, open) : `${n.slice(0, open)}_${n.slice(open + 1)}`;
  return n.replace(/[. ]/g, '_').toLowerCase();
}

/**
 * A method override in the query (`_method=DELETE`: Laravel, Symfony, method-override middleware): the
 * upstream would run another method than the one the route was matched and authorised for, as with the
 * override headers the forwarder drops. Refused on every route, in any spelling an upstream reads.
 */
export function checkMethodOverride(query: string): void {
  // Only a name holding "method", as written or percent-encoded, can be one.
  if (!/method/i.test(query) && !query.includes('%')) return;
  for (const name of queryNames(query.replace(/;/g, '&'))) {
    if (canonicalName(name) === '_method') throw new GatewayError('GW_BAD_REQUEST', `query parameter ${JSON.stringify(name.slice(0, 64))} overrides the request method`);
  }
}

/**
 * TOK-8: the values of every parameter an upstream could read as `canonical` (any spelling, `;` as a
 * separator too). A value with `+` is a space to form decoding and a plus to others: both readings are
 * returned. undefined: an escape that does not decode (no grant can name it).
 */
export function queryValues(query: string, canonical: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const pair of query.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      name = rawName;
    }
    if (canonicalName(name) !== canonical) continue;
    const raw = eq === -1 ? '' : pair.slice(eq + 1);
    for (const v of raw.includes('+') ? [raw.replace(/\+/g, ' '), raw] : [raw]) {
      try {
        out.push(decodeURIComponent(v));
      } catch {
        out.push(undefined);
      }
    }
  }
  return out;
}

/** A client's query may not set a parameter its route's upstream.url fixes. */
export function checkFixedQuery(query: string, fixed: ReadonlySet<string>): void {
  // `;` separates parameters for Rack 2, Perl CGI.pm, older Python and Go: a name could hide behind it.
  if (query.includes(';')) throw new GatewayError('GW_BAD_REQUEST', "';' in the query of a route whose upstream.url fixes parameters");
  for (const name of queryNames(query)) {
    if (fixed.has(canonicalName(name))) throw new GatewayError('GW_BAD_REQUEST', `query parameter ${JSON.stringify(name.slice(0, 64))} is fixed by the route's upstream.url`);
  }
}
