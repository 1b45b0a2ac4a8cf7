// Query parameter names as the upstream frameworks read them (strict and lenient decoding; PHP's, qs's,
// Rack 2's and ASP.NET's spellings), for every check that must see a parameter whatever its spelling.
import { GatewayError } from '../errors/gateway-error.js';

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
  for (const pair of query.split(/[&;]/)) {
    const raw = pair.split('=', 1)[0] as string;
    if (nameReadsAs(raw, '_method')) throw new GatewayError('GW_BAD_REQUEST', `query parameter ${JSON.stringify(raw.slice(0, 64))} overrides the request method`);
  }
}

const letterRuns = new Map<string, RegExp>();

/** Whether the query has a parameter some upstream reads as `canonical` (`;` as a separator too). */
export function queryHas(query: string, canonical: string): boolean {
  // Decoding is the only way to letters not written as such: without a `%`, the name's longest run of
  // letters must be in the query as written (the usual query is answered here).
  let run = letterRuns.get(canonical);
  if (run === undefined) {
    const longest = canonical.split(/[^a-z0-9]+/).reduce((a, b) => (b.length > a.length ? b : a), '');
    letterRuns.set(canonical, (run = new RegExp(longest, 'i')));
  }
  if (!query.includes('%') && !run.test(query)) return false;
  return query.split(/[&;]/).some((pair) => nameReadsAs(pair.split('=', 1)[0] as string, canonical));
}

/** Lenient decoding (PHP, ASP.NET): each valid %XX is its byte, %uXXXX its code unit, + a space; the rest kept. */
function lenientDecode(s: string): string {
  return s.replace(/\+/g, ' ').replace(/%u([0-9A-Fa-f]{4})|%([0-9A-Fa-f]{2})/g, (_m, u: string | undefined, h: string | undefined) => String.fromCharCode(parseInt((u ?? h) as string, 16)));
}

/**
 * Whether some upstream reads the raw (encoded) parameter name as `canonical` (a canonicalName): decoded
 * strictly (UTF-8) or leniently; then as PHP (canonicalName), or as qs and Rack 2 read brackets (`[name]`,
 * `name]`, `]name`: leading brackets dropped, the name ends at the first bracket).
 */
export function nameReadsAs(raw: string, canonical: string): boolean {
  const lenient = lenientDecode(raw);
  let strict: string | undefined;
  try {
    strict = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    strict = undefined;
  }
  for (const name of strict === undefined || strict === lenient ? [lenient] : [strict, lenient]) {
    if (canonicalName(name) === canonical) return true;
    let n = name;
    const nul = n.indexOf('\0');
    if (nul !== -1) n = n.slice(0, nul);
    n = n.replace(/^[ [\]]+/, '');
    const end = n.search(/[[\]]/);
    if ((end === -1 ? n : n.slice(0, end)).replace(/[. ]/g, '_').toLowerCase() === canonical) return true;
  }
  return false;
}

/**
 * TOK-8: the values of every parameter an upstream could read as `canonical` (nameReadsAs, `;` as a
 * separator or not). A value with `+` is a space to form decoding and a plus to others: both readings
 * are returned. undefined: an escape that does not decode strictly (no grant can name it).
 */
export function queryValues(query: string, canonical: string): (string | undefined)[] {
  // With a `;`, the pairs both as `;`-splitting parsers see them and as `&`-only ones do (whose value
  // `A;,B` a list binding reads as A; and B).
  const pairs = query.includes(';') ? [...query.split(/[&;]/), ...query.split('&').filter((p) => p.includes(';'))] : query.split('&');
  const out: (string | undefined)[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (!nameReadsAs(eq === -1 ? pair : pair.slice(0, eq), canonical)) continue;
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
  for (const pair of query.split('&')) {
    const raw = pair.split('=', 1)[0] as string;
    for (const name of fixed) {
      if (nameReadsAs(raw, name)) throw new GatewayError('GW_BAD_REQUEST', `query parameter ${JSON.stringify(raw.slice(0, 64))} is fixed by the route's upstream.url`);
    }
  }
}
