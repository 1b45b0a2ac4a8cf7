// The compiled route table: exactly one route matches, or none. Overlaps are refused at load.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compileCors } from './cors.js';
import { canonicalName, fixedQueryNames } from './query.js';
import { normaliseTarget } from './normalize-path.js';
import { ConfigError, formatPath, type LoadedConfig } from '../config/load.js';
import type { RouteConfig } from '../config/schema.js';
import type { AuthScheme, DetailRule, DetailsRule, ResourceBinding, Route } from '../types.js';

export interface RouteTable {
  match(method: string, path: string, host: string): Route | undefined;
  readonly routes: readonly Route[];
}

const WELL_KNOWN_METADATA = '/.well-known/oauth-protected-resource';

const segmentsOf = (p: string): string[] => (p === '/' ? [] : p.replace(/\/$/, '').split('/').slice(1));

/** `/accounts` covers `/accounts` and `/accounts/...`, never `/accountsX`. */
function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`);
}

function schemesFor(binding: Route['binding']): AuthScheme[] {
  if (binding === 'mtls') return ['bearer'];
  if (binding === 'dpop') return ['dpop'];
  return ['bearer', 'dpop'];
}

const detailRule = (x: { type: string; actions?: string[]; datatypes?: string[]; locations?: string[] }): DetailRule =>
  Object.freeze({
    type: x.type,
    actions: Object.freeze([...(x.actions ?? [])]),
    datatypes: Object.freeze([...(x.datatypes ?? [])]),
    locations: Object.freeze([...(x.locations ?? [])]),
  });

function compileDetails(d: RouteConfig['auth']['authorization_details']): DetailsRule | undefined {
  if (d === undefined) return undefined;
  return Object.freeze({ allOf: Object.freeze(d.all_of.map(detailRule)), anyOf: Object.freeze(d.any_of.map(detailRule)) });
}

function compileResourceBinding(r: RouteConfig): ResourceBinding | undefined {
  const b = r.auth.resource_binding;
  if (b === undefined) return undefined;
  return Object.freeze({
    prefix: r.match.path_prefix?.replace(/\/$/, ''),
    queryParam: b.query_param === undefined ? undefined : Object.freeze({ canonical: canonicalName(b.query_param), name: b.query_param }),
    details: Object.freeze((b.authorization_details ?? []).map((d) => Object.freeze({ ...detailRule(d), path: Object.freeze(d.field.split('.')) }))),
    scopePrefix: b.scope_prefix,
    collectionMethods: new Set(b.collection_methods),
  });
}

/**
 * `leewayS`: the largest clock leeway of the route's issuers (for the step-up `auth_time` check).
 * `upstreamCa`: the PEM text of `upstream.ca_file`, read by the caller; `maxBodyBytes`: server.limits.max_body_bytes;
 * `signedBodyBytes`: http_signatures.max_body_bytes, the cap of a signed request's body (held in memory, SIG-6).
 */
export function compileRoute(r: RouteConfig, leewayS = 0, upstreamCa?: string, maxBodyBytes = 10_485_760, signedBodyBytes = 10_485_760): Route {
  const bodyLimit = r.upstream.max_body_bytes ?? maxBodyBytes;
  const s = r.auth.step_up;
  const url = new URL(r.upstream.url);
  return Object.freeze({
    id: r.id,
    methods: new Set(r.match.methods),
    host: r.match.host,
    pathPrefix: r.match.path_prefix,
    exactPath: r.match.path,
    profile: r.profile,
    issuers: Object.freeze([...r.auth.issuers]),
    audience: r.auth.audience,
    binding: r.auth.binding,
    scopes: Object.freeze({ allOf: Object.freeze([...r.auth.scopes.all_of]), anyOf: Object.freeze([...r.auth.scopes.any_of]) }),
    authorizationDetails: compileDetails(r.auth.authorization_details),
    resourceBinding: compileResourceBinding(r),
    stepUp: s === undefined ? undefined : Object.freeze({ acrValues: Object.freeze([...(s.acr_values ?? [])]), maxAgeS: s.max_age_s, leewayS }),
    forwardCredentials: r.auth.forward_credentials,
    dpop: Object.freeze({ nonce: r.auth.dpop_nonce }),
    signedRequests: r.auth.signed_requests,
    signResponses: r.sign_responses,
    upstream: Object.freeze({
      url,
      ca: upstreamCa,
      timeoutMs: r.upstream.timeout_ms,
      connectTimeoutMs: r.upstream.connect_timeout_ms,
      preserveHost: r.upstream.preserve_host,
      maxBodyBytes: r.auth.signed_requests ? Math.min(bodyLimit, signedBodyBytes) : bodyLimit,
      fixedQuery: fixedQueryNames(url),
    }),
    schemes: Object.freeze(schemesFor(r.auth.binding)),
    cors: compileCors(r.cors, r.match.methods, { requests: r.auth.signed_requests, responses: r.sign_responses }),
    publicOrigin: r.public_origin,
    publicHost: r.public_origin === undefined ? undefined : new URL(r.public_origin).host,
    responseRules: r.cors === undefined && !r.upstream.json_content_type ? undefined : Object.freeze({ cors: r.cors !== undefined, json: r.upstream.json_content_type }),
  });
}

function pathsOverlap(a: Route, b: Route): boolean {
  if (a.exactPath !== undefined && b.exactPath !== undefined) return a.exactPath === b.exactPath;
  if (a.exactPath !== undefined) return underPrefix(a.exactPath, b.pathPrefix as string);
  if (b.exactPath !== undefined) return underPrefix(b.exactPath, a.pathPrefix as string);
  const pa = segmentsOf(a.pathPrefix as string);
  const pb = segmentsOf(b.pathPrefix as string);
  const n = Math.min(pa.length, pb.length);
  return pa.slice(0, n).join('/') === pb.slice(0, n).join('/');
}

const overlaps = (a: Route, b: Route): boolean =>
  [...a.methods].some((m) => b.methods.has(m)) &&
  (a.host === undefined || b.host === undefined || a.host === b.host) &&
  pathsOverlap(a, b);

/**
 * TOK-8: pairs of a route that binds resources and another route, without a binding, whose paths
 * overlap it (they differ in method, or they would overlap outright): an upstream that takes a method
 * override from the body could serve the bound resources through the other route. For `check`'s notes.
 */
export function unboundNeighbours(routes: readonly Route[]): [bound: Route, other: Route][] {
  const out: [Route, Route][] = [];
  for (const a of routes) {
    if (a.resourceBinding === undefined) continue;
    for (const b of routes) {
      if (b !== a && b.resourceBinding === undefined && (a.host === undefined || b.host === undefined || a.host === b.host) && pathsOverlap(a, b)) out.push([a, b]);
    }
  }
  return out;
}

/** `missingFilesOk` (check): an upstream.ca_file not on this machine compiles without its CA. */
export function compileRouteTable(loaded: LoadedConfig, opts: { readonly missingFilesOk?: boolean } = {}): RouteTable {
  const { issuers } = loaded.config;
  const leewayOf = (r: RouteConfig): number => Math.max(0, ...r.auth.issuers.map((n) => issuers[n]?.clock_leeway_s ?? 0));
  // Problems found here carry the line of their key, like the loader's.
  const issue = (path: (string | number)[], message: string): { path: string; message: string; line: number | undefined } => ({
    path: formatPath(path),
    message,
    line: loaded.lineOf?.(path),
  });
  const caOf = (r: RouteConfig, i: number): string | undefined => {
    if (r.upstream.ca_file === undefined) return undefined;
    if (opts.missingFilesOk === true && !existsSync(resolve(loaded.baseDir, r.upstream.ca_file))) return undefined;
    const path = ['routes', i, 'upstream', 'ca_file'];
    let pem: string;
    try {
      pem = readFileSync(resolve(loaded.baseDir, r.upstream.ca_file), 'utf8');
    } catch (e) {
      throw new ConfigError(loaded.source, [issue(path, `cannot read: ${(e as Error).message}`)]);
    }
    try {
      // Refused here, not per request: a CA Node cannot load would fail every TLS connection to the upstream.
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(loaded.source, [issue(path, 'not a PEM certificate')]);
    }
    return pem;
  };
  const routes = loaded.config.routes.map((r, i) => compileRoute(r, leewayOf(r), caOf(r, i), loaded.config.server.limits.max_body_bytes, loaded.config.http_signatures?.max_body_bytes));
  const issues = [];
  // Requests are matched after normalisation: a path written otherwise (`%7e`, lower-case hex) would
  // never match.
  loaded.config.routes.forEach((r, i) => {
    for (const key of ['path', 'path_prefix'] as const) {
      const p = r.match[key];
      if (p === undefined) continue;
      const n = normaliseTarget(p);
      if (!n.ok || n.path !== p) issues.push(issue(['routes', i, 'match', key], n.ok ? `not in normal form: write ${n.path}` : n.reason));
    }
  });
  for (let i = 0; i < routes.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = routes[i] as Route;
      const b = routes[j] as Route;
      if (overlaps(a, b)) {
        issues.push(issue(['routes', i, 'match'], `overlaps route ${b.id} (routes[${j}]): a request could match both`));
      }
    }
  }
  // SIG-9: the JWKS is answered before routing: a GET route there would never be reached, and a metadata
  // path there would be served instead of the keys.
  const jwksPath = loaded.config.http_signatures?.response_signing?.jwks_path;
  if (jwksPath !== undefined) {
    const at = ['http_signatures', 'response_signing', 'jwks_path'];
    if (jwksPath === WELL_KNOWN_METADATA || jwksPath.startsWith(`${WELL_KNOWN_METADATA}/`)) issues.push(issue(at, 'under /.well-known/oauth-protected-resource, where the RFC 9728 metadata is served'));
    const shadowed = routes.find((r) => (r.methods.has('GET') || r.methods.has('HEAD')) && (r.exactPath !== undefined ? jwksPath === r.exactPath : underPrefix(jwksPath, r.pathPrefix as string)));
    if (shadowed !== undefined) issues.push(issue(at, `route ${shadowed.id} matches GET ${jwksPath}: the keys are served there instead, so the route would never be reached`));
  }
  if (issues.length > 0) throw new ConfigError(loaded.source, issues);
  // Bucket by method so a request scans only the routes that could match it.
  const byMethod = new Map<string, Route[]>();
  for (const r of routes) for (const m of r.methods) byMethod.set(m, [...(byMethod.get(m) ?? []), r]);
  return Object.freeze({
    routes: Object.freeze(routes),
    match(method: string, path: string, host: string): Route | undefined {
      const candidates = byMethod.get(method);
      if (candidates === undefined) return undefined;
      for (const r of candidates) {
        if (r.host !== undefined && r.host !== host) continue;
        if (r.exactPath !== undefined ? path === r.exactPath : underPrefix(path, r.pathPrefix as string)) return r;
      }
      return undefined;
    },
  });
}
