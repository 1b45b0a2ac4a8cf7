// Strip before you set (HDR-10..HDR-12): remove every header a client could spoof, the credentials
// (unless the route opts in) and hop-by-hop headers; then write fresh identity and forwarding headers.
import type { IncomingHttpHeaders } from 'node:http';
import type { IdentityHeaderNames } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Principal, RequestFacts, Route } from '../types.js';

/** Hop-by-hop fields in both directions (RFC 9110 §7.6.1), besides those a Connection field lists. */
export const HOP_BY_HOP: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

/** The field names a Connection field value lists, lowercased (RFC 9110 §7.6.1). */
export function connectionListed(value: string): string[] {
  const out: string[] = [];
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '') out.push(name);
  }
  return out;
}

// Exact names that are never forwarded as sent.
const ALWAYS_STRIPPED = new Set([
  // hop-by-hop; transfer-encoding is kept: the request body is re-framed from it.
  ...HOP_BY_HOP, 'http2-settings',
  // forwarding and client-certificate headers only a trusted hop may set (MTLS-5)
  'forwarded', 'x-real-ip', 'client-cert', 'client-cert-chain', 'x-client-cert', 'ssl-client-cert',
  'x-forwarded-client-cert', 'x-client-verify', 'x-client-dn', 'x-arr-clientcert',
  // the client's address as CDNs and load balancers pass it: upstreams allow-list or rate-limit by it
  'client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip', 'x-cluster-client-ip', 'x-original-forwarded-for',
  // credentials that are never forwarded (CRED-6)
  'proxy-authorization',
  // path and method overrides (IIS/ASP.NET, Symfony, method-override middleware): the upstream would run
  // another path or method than the one the route was matched and authorised for
  'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override',
  // the path as an earlier hop saw it (nginx, Traefik, Envoy): upstreams route or log by it
  'x-original-uri', 'x-original-path', 'x-original-pathname', 'x-replaced-path',
  // set by the gateway (HDR-3); listed so the underscore form a CGI-style upstream reads as it is dropped
  'x-fapi-interaction-id',
  // the gateway answers 100-continue itself and sends the body at once: an upstream told to expect
  // could answer first and read the body as a request of its own ("0.CL"), or refuse it (417)
  'expect',
]);
/**
 * `x-authenticated-*`, `x-forwarded-*`, `x-ssl-*`, the client-certificate families of proxies and
 * load balancers (`client-cert*`, `x-client-cert*`, `x-client-verify*`, `x-client-dn*`, nginx/Apache/
 * HAProxy's `ssl-client-*`, Cloudflare's `cf-cert-*`, AWS's `x-amzn-mtls-clientcert*`): an upstream once behind one may trust
 * them; and `x-envoy-*`, which an Envoy sidecar in front of the upstream honours from a local hop
 * (startsWith: a regex test per field cost more).
 */
const strippedPrefix = (name: string): boolean =>
  name.startsWith('x-')
    ? name.startsWith('authenticated-', 2) ||
      name.startsWith('forwarded-', 2) ||
      name.startsWith('ssl-', 2) ||
      name.startsWith('client-cert', 2) ||
      name.startsWith('client-verify', 2) ||
      name.startsWith('client-dn', 2) ||
      name.startsWith('envoy-', 2) ||
      name.startsWith('amzn-mtls-clientcert', 2)
    : name.startsWith('client-cert') || name.startsWith('ssl-client-') || name.startsWith('cf-cert-') || name.startsWith('cf-client-cert');
/**
 * The FAPI headers a client may send (HDR-4, HDR-5): only the dashed spelling is checked (strict mode)
 * and forwarded; the underscore one a CGI-style upstream reads as the same header never is.
 */
const FAPI_CLIENT_HEADERS: ReadonlySet<string> = new Set(['x-fapi-customer-ip-address', 'x-fapi-auth-date', 'x-fapi-end-user-present']);
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'dpop']);

/** Names the gateway owns, for one config: the identity header names may be renamed. */
export function ownedHeaderNames(names: IdentityHeaderNames): ReadonlySet<string> {
  return new Set([...ALWAYS_STRIPPED, ...Object.values(names)]);
}

/**
 * The client's headers minus everything a client could spoof, as a fresh object: deleting from the
 * parsed headers in place turned them into a slow dictionary that every later copy paid for.
 */
function withoutSpoofable(headers: IncomingHttpHeaders, owned: ReadonlySet<string>, keepCredentials: boolean): IncomingHttpHeaders {
  // Headers listed in Connection are hop-by-hop too.
  const listed =
    headers.connection === undefined
      ? undefined
      : connectionListed(String(headers.connection)).filter((t) => t !== 'transfer-encoding' && t !== 'content-length' && t !== 'host');
  const out: IncomingHttpHeaders = {};
  for (const key of Object.keys(headers)) {
    // CGI-style upstreams read `X_Authenticated_Subject` as `X-Authenticated-Subject`: judge that form.
    const name = key.includes('_') ? key.replaceAll('_', '-') : key;
    if (owned.has(name) || strippedPrefix(name) || listed?.includes(name) === true) continue;
    if (name !== key && FAPI_CLIENT_HEADERS.has(name)) continue;
    if (!keepCredentials && CREDENTIAL_HEADERS.has(key)) continue;
    out[key] = headers[key];
  }
  return out;
}

/**
 * Identity values come from a trusted AS but may hold any character; percent-encode anything that is
 * not visible ASCII (and `%` itself), so a header value can never be split or rejected, and spaces at
 * either end, which every HTTP parser trims (RFC 9110 §5.5): `alice ` must not arrive as `alice`.
 */
export function headerSafe(value: string): string {
  if (visibleAsciiNoPercent(value)) return value;
  // toWellFormed: a lone surrogate (legal in JSON) becomes U+FFFD instead of making encodeURIComponent throw.
  return value
    .toWellFormed()
    .replace(/[^\x20-\x24\x26-\x7E]/gu, (c) => encodeURIComponent(c))
    .replace(/^ +| +$/g, (spaces) => '%20'.repeat(spaces.length));
}

/** /^[\x20-\x24\x26-\x7E]*$/ without a space at either end, as a loop: the common case, for every identity value. */
function visibleAsciiNoPercent(value: string): boolean {
  if (value.charCodeAt(0) === 0x20 || value.charCodeAt(value.length - 1) === 0x20) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

export interface ForwardContext {
  readonly names: IdentityHeaderNames;
  /** server.limits.max_authorization_details_bytes: the largest encoded header sent upstream. */
  readonly maxDetailsBytes: number;
  readonly owned: ReadonlySet<string>;
  readonly publicHost: string;
}

/**
 * the authorization_details header is never cut or left out (an upstream could read a partial or
 * absent list as "no restriction"): one too large is refused, before the DPoP proof is claimed (a
 * refusal must not consume it).
 */
export function checkDetailsForwardable(claims: Principal['claims'], ctx: ForwardContext): void {
  const details = claims.authorizationDetailsHeader;
  if (details !== undefined && details.length > ctx.maxDetailsBytes) {
    throw new GatewayError('GW_AUTHORIZATION_DETAILS_TOO_LARGE', `Q-9 authorization_details header would be ${details.length} bytes, over max_authorization_details_bytes ${ctx.maxDetailsBytes}`);
  }
}

/** Replaces `req.headers` with exactly what the upstream may see. */
export function prepareUpstreamHeaders(facts: RequestFacts, route: Route, principal: Principal, ctx: ForwardContext): void {
  const h = withoutSpoofable(facts.req.headers, ctx.owned, route.forwardCredentials);
  facts.req.headers = h;
  // The framing the gateway parsed, in its one spelling (HDR-12): Node re-chunks a `CHUNKED` body but
  // sends the label as written, and `Content-Length: 0031` reaches the upstream verbatim otherwise.
  // Only `chunked` gets this far (any other transfer coding was refused).
  if (h['transfer-encoding'] !== undefined) h['transfer-encoding'] = 'chunked';
  else if (h['content-length'] !== undefined) h['content-length'] = String(Number(h['content-length']));
  const { claims, binding } = principal;
  const n = ctx.names;
  if (claims.subject !== undefined) h[n.subject] = headerSafe(claims.subject);
  if (claims.clientId !== undefined) h[n.client_id] = headerSafe(claims.clientId);
  h[n.scope] = headerSafe(claims.scopes.join(' '));
  h[n.issuer] = headerSafe(claims.issuer);
  h[n.binding] = binding.kind;
  if (binding.thumbprint !== undefined) h[n.key_thumbprint] = binding.thumbprint;
  // HDR-10, JWT-14: how the user authenticated, when the token says (client-credentials tokens do not).
  if (claims.acr !== undefined) h[n.acr] = headerSafe(claims.acr);
  if (claims.authTime !== undefined) h[n.auth_time] = String(claims.authTime);
  if (claims.amr !== undefined && claims.amr.length > 0) h[n.amr] = headerSafe(claims.amr.join(' '));
  // the upstream decides consent ownership from these; base64url so any JSON fits a header value.
  // Never cut or left out (checkDetailsForwardable ran before the replay claim).
  const details = claims.authorizationDetailsHeader;
  if (details !== undefined) h[n.authorization_details] = details;
  h['x-fapi-interaction-id'] = facts.interactionId;
  // Rewritten, never appended to client values.
  h['x-forwarded-for'] = facts.remoteAddress;
  h['x-forwarded-proto'] = 'https';
  h['x-forwarded-host'] = route.publicHost ?? ctx.publicHost;
}
