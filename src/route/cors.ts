// HDR-15, DPOP-27 (RFC 9449 §7.1, §8; Fetch "CORS protocol"): a route's CORS policy. Preflights are
// answered by the gateway without a token; responses to an allowed origin let its scripts read the
// challenge, the nonce and the interaction id. Never credentialed: tokens travel in headers, not cookies.
import type { RouteConfig } from '../config/schema.js';
import type { CorsPolicy } from '../types.js';

const ALLOWED_HEADERS = ['authorization', 'dpop', 'content-type', 'x-fapi-auth-date', 'x-fapi-customer-ip-address', 'x-fapi-interaction-id', 'x-fapi-end-user-present'];
const EXPOSED_HEADERS = ['www-authenticate', 'dpop-nonce', 'x-fapi-interaction-id', 'retry-after'];

// SIG-2..SIG-8: what a browser client sends with a signed request and reads from a signed response.
const SIGNATURE_HEADERS = ['signature', 'signature-input', 'content-digest'];

export function compileCors(c: RouteConfig['cors'], methods: readonly string[], signed: { requests: boolean; responses: boolean }): CorsPolicy | undefined {
  if (c === undefined) return undefined;
  return Object.freeze({
    origins: new Set(c.allowed_origins),
    allowMethods: methods.join(', '),
    allowHeaders: [...new Set([...ALLOWED_HEADERS, ...(signed.requests ? SIGNATURE_HEADERS : []), ...c.allowed_headers])].join(', '),
    exposeHeaders: [...new Set([...EXPOSED_HEADERS, ...(signed.requests ? ['accept-signature'] : []), ...(signed.responses ? SIGNATURE_HEADERS : []), ...c.exposed_headers])].join(', '),
    maxAge: String(c.max_age_s),
  });
}

/** The `Origin` of a request when the policy allows it (exact match), else undefined. */
export function allowedOrigin(policy: CorsPolicy, origin: string | string[] | undefined): string | undefined {
  return typeof origin === 'string' && policy.origins.has(origin) ? origin : undefined;
}

/** The method a CORS preflight asks about: an OPTIONS request with `Origin` and `Access-Control-Request-Method`. */
export function preflightMethod(headers: { origin?: string | string[]; 'access-control-request-method'?: string | string[] }): string | undefined {
  const m = headers['access-control-request-method'];
  return headers.origin === undefined || typeof m !== 'string' ? undefined : m;
}

/** Headers on an actual response to an allowed origin (refusals included: the client must read them). */
export function corsResponseHeaders(policy: CorsPolicy, origin: string): string[] {
  return ['access-control-allow-origin', origin, 'access-control-expose-headers', policy.exposeHeaders];
}

/** Headers of the 204 answering a preflight from an allowed origin. */
export function preflightHeaders(policy: CorsPolicy, origin: string): string[] {
  return [
    'access-control-allow-origin', origin,
    'access-control-allow-methods', policy.allowMethods,
    'access-control-allow-headers', policy.allowHeaders,
    'access-control-max-age', policy.maxAge,
    'vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  ];
}
