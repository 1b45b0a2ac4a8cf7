// RFC 9728 Protected Resource Metadata (PRM-1..PRM-6), served by the gateway itself: one document per
// resource identifier (a route `audience` under `server.public_origin`), built once per config.
import type { LoadedConfig } from '../config/load.js';
import { normaliseTarget } from '../route/normalize-path.js';
import type { Route } from '../types.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceMetadata {
  /** The serialised document for a request path, or undefined when the path publishes none. */
  document(path: string): string | undefined;
  /** The metadata URL of a resource identifier, when it is published. */
  urlFor(audience: string): string | undefined;
  /** PRM-5: `resource_metadata=` for this route's 401 challenges, where its document can apply (see appliesTo). */
  advertisedFor(route: Route): string | undefined;
  readonly maxAgeS: number;
}

/**
 * PRM-1/PRM-2: the well-known path of an identifier we can serve (https, our origin, no query or
 * fragment), else undefined. A trailing `/` right after the host is dropped.
 */
export function wellKnownPath(audience: string, publicOrigin: string): string | undefined {
  let u: URL;
  try {
    u = new URL(audience);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' || u.origin !== new URL(publicOrigin).origin || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') return undefined;
  // Only the identifier exactly as written can be published (PRM-2), in the origin's own spelling (not
  // `https://API.test`): `https://h` and `https://h/` are the same.
  if (!audience.startsWith(u.origin)) return undefined;
  const rest = audience.slice(u.origin.length);
  if (rest !== '' && rest !== u.pathname) return undefined;
  return WELL_KNOWN + (u.pathname === '/' ? '' : u.pathname);
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** PRM-3: the members for one identifier, from every route that has it as audience; empty ones left out. */
export function metadataDocument(audience: string, routes: readonly Route[], loaded: LoadedConfig): Record<string, unknown> {
  const c = loaded.config;
  const rs = routes.filter((r) => r.audience === audience);
  const doc: Record<string, unknown> = { resource: audience };
  const servers = unique(rs.flatMap((r) => r.issuers.map((n) => c.issuers[n]?.issuer).filter((x): x is string => x !== undefined)));
  if (servers.length > 0) doc.authorization_servers = servers;
  const scopes = unique(rs.flatMap((r) => [...r.scopes.allOf, ...r.scopes.anyOf]));
  if (scopes.length > 0) doc.scopes_supported = scopes;
  doc.bearer_methods_supported = ['header'];
  if (rs.some((r) => r.binding === 'mtls' || r.binding === 'any')) doc.tls_client_certificate_bound_access_tokens = true;
  if (rs.some((r) => r.binding === 'dpop' || r.binding === 'any')) doc.dpop_signing_alg_values_supported = [...c.dpop.algorithms];
  if (rs.length > 0 && rs.every((r) => r.binding === 'dpop')) doc.dpop_bound_access_tokens_required = true;
  // SIG-9: where clients find the keys that sign this resource's responses.
  const signing = c.http_signatures?.response_signing;
  if (signing !== undefined && rs.some((r) => r.signResponses)) {
    doc.jwks_uri = new URL(signing.jwks_path, c.server.public_origin).href;
    doc.resource_signing_alg_values_supported = unique(signing.keys.map((k) => k.alg));
  }
  const m = c.resource_metadata;
  if (m?.resource_name !== undefined) doc.resource_name = m.resource_name;
  if (m?.resource_documentation !== undefined) doc.resource_documentation = m.resource_documentation;
  return doc;
}

/**
 * The identifiers that can be published, by the path their document is served under (the path requests
 * are matched in: hex upper-cased, unreserved characters decoded) with the URL advertised as written.
 * Identifiers that share one well-known URL (`https://h` and `https://h/`) are `clashing`: a document
 * there could name only one of them (PRM-2), so neither is published, and `check` says so.
 */
export function publishable(audiences: readonly string[], origin: string): { byServedPath: Map<string, { audience: string; url: string }>; clashing: string[][] } {
  const byServedPath = new Map<string, { audience: string; url: string }>();
  const seen = new Map<string, string[]>();
  for (const audience of unique(audiences)) {
    const path = wellKnownPath(audience, origin);
    const served = path === undefined ? undefined : normaliseTarget(path);
    if (path === undefined || served === undefined || !served.ok) continue;
    const same = seen.get(served.path);
    if (same === undefined) {
      seen.set(served.path, [audience]);
      byServedPath.set(served.path, { audience, url: new URL(path, origin).href });
    } else {
      same.push(audience);
      byServedPath.delete(served.path);
    }
  }
  return { byServedPath, clashing: [...seen.values()].filter((a) => a.length > 1) };
}

/**
 * RFC 9728 §3.3: a client must discard metadata fetched from a challenge unless `resource` matches the URL
 * it called; read as the same origin and a path prefix on a segment boundary (the strict reading, an
 * identical URL, would rule out every identifier with paths below it). A route with its own public
 * origin or host, or paths outside its audience's path, gets no `resource_metadata` it would have to discard.
 */
function appliesTo(route: Route, audience: string, origin: string): boolean {
  if (route.publicOrigin !== undefined && new URL(route.publicOrigin).origin !== origin) return false;
  if (route.host !== undefined && route.host !== new URL(origin).hostname) return false;
  const base = new URL(audience).pathname;
  if (base === '/') return true;
  const path = route.pathPrefix ?? route.exactPath ?? '';
  return path === base || path.startsWith(base.endsWith('/') ? base : `${base}/`);
}

/** undefined when `resource_metadata` is not configured. */
export function buildProtectedResourceMetadata(loaded: LoadedConfig, routes: readonly Route[]): ProtectedResourceMetadata | undefined {
  const m = loaded.config.resource_metadata;
  if (m === undefined) return undefined;
  const byPath = new Map<string, string>();
  const urls = new Map<string, string>();
  for (const [served, { audience, url }] of publishable(routes.map((r) => r.audience), loaded.config.server.public_origin).byServedPath) {
    byPath.set(served, JSON.stringify(metadataDocument(audience, routes, loaded)));
    urls.set(audience, url);
  }
  const origin = new URL(loaded.config.server.public_origin).origin;
  const advertised = new Map<string, string>();
  for (const r of routes) {
    const url = urls.get(r.audience);
    if (url !== undefined && appliesTo(r, r.audience, origin)) advertised.set(r.id, url);
  }
  return {
    document: (path) => byPath.get(path),
    urlFor: (audience) => urls.get(audience),
    advertisedFor: (route) => advertised.get(route.id),
    maxAgeS: m.max_age_s,
  };
}
