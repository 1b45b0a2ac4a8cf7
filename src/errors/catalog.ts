// The one error catalog: stable code -> status, OAuth error, which challenge carries it, public text.
// README's error catalog is checked against this table by test/unit/errors/catalog.test.ts.

/**
 * Which `WWW-Authenticate` challenges a response carries (RFC 6750 §3, RFC 9449 §7.2, §19 Q-5):
 * - none: no challenge at all (not an authentication outcome);
 * - bare: every scheme the route offers, without error parameters (E1);
 * - used: the error on the challenge of the scheme used, the other schemes bare;
 * - all:  the error on every offered challenge (ambiguous request, RFC 9449 Fig. 19).
 */
export type ChallengeTarget = 'none' | 'bare' | 'used' | 'all';

export interface CatalogEntry {
  readonly status: number;
  /** OAuth `error` value, also the JSON body's `error`. */
  readonly error: string;
  readonly challenge: ChallengeTarget;
  /** Generic, developer-facing text. Never carries request data (ERR-8). */
  readonly description: string;
  /** Requirement IDs this code answers, for the README and tests. */
  readonly refs: string;
}

const e = (
  status: number,
  error: string,
  challenge: ChallengeTarget,
  description: string,
  refs: string,
): CatalogEntry => Object.freeze({ status, error, challenge, description, refs });

export const CATALOG = Object.freeze({
  // Request hygiene, before any credential is looked at.
  GW_BAD_REQUEST: e(400, 'invalid_request', 'none', 'The request is malformed', 'refused by the HTTP parser: smuggling, bad framing'),
  GW_PATH_AMBIGUOUS: e(400, 'invalid_request', 'none', 'The request path is ambiguous', 'route normalisation'),
  GW_INTERACTION_ID_INVALID: e(400, 'invalid_request', 'none', 'x-fapi-interaction-id must be a UUID', 'HDR-1, Q-8'),
  GW_FAPI_HEADER_INVALID: e(400, 'invalid_request', 'none', 'x-fapi-customer-ip-address or x-fapi-auth-date is malformed', 'HDR-4, HDR-5 (fapi_headers: strict)'),
  GW_BODY_TOO_LARGE: e(413, 'invalid_request', 'none', 'The request body is too large', 'server.limits.max_body_bytes, upstream.max_body_bytes'),
  GW_AUTHORIZATION_DETAILS_TOO_LARGE: e(431, 'invalid_request', 'none', 'The access token authorizes too much to forward', 'Q-9, server.limits.max_authorization_details_bytes'),
  GW_HEADERS_TOO_LARGE: e(431, 'invalid_request', 'none', 'Request header fields are too large', 'HDR-16, CRED-8'),
  GW_REQUEST_TIMEOUT: e(408, 'invalid_request', 'none', 'The request was not received in time', 'headers_timeout_ms, request_timeout_ms'),
  GW_ROUTE_NOT_FOUND: e(404, 'not_found', 'none', 'No route matches this request', 'routes'),
  GW_CLIENT_CERT_REQUIRED: e(403, 'client_certificate_required', 'bare', 'This API requires a TLS client certificate', 'TLS-9, PRM-6 (tls.client_certificate: required)'),
  GW_CORS_ORIGIN_REFUSED: e(403, 'origin_not_allowed', 'bare', 'This origin may not call this API from a browser', 'HDR-15'),
  GW_UPGRADE_REFUSED: e(400, 'invalid_request', 'none', 'Protocol upgrades are not allowed on this route', 'HDR-12'),
  GW_TRANSFER_CODING_UNSUPPORTED: e(501, 'invalid_request', 'none', 'Only the chunked transfer coding is supported', 'RFC 9112 §6.1'),
  GW_EXPECTATION_FAILED: e(417, 'invalid_request', 'none', 'Only the 100-continue expectation is supported', 'RFC 9110 §10.1.1'),

  // E1: no usable credentials.
  GW_NO_CREDENTIALS: e(401, 'unauthorized', 'bare', 'Authentication required', 'E1, ERR-1, CRED-4, CRED-6, CRED-7'),

  // E2: invalid_request.
  GW_MALFORMED_AUTHORIZATION: e(400, 'invalid_request', 'used', 'The Authorization header is malformed', 'E2, CRED-2, ERR-2'),
  GW_MULTIPLE_CREDENTIALS: e(400, 'invalid_request', 'all', 'More than one credential was presented', 'E2, CRED-5, M12'),
  GW_TOKEN_IN_QUERY: e(400, 'invalid_request', 'all', 'Access tokens are not accepted in the query', 'E2, CRED-3, M13'),
  GW_BEARER_WITH_DPOP_PROOF: e(400, 'invalid_request', 'used', 'A DPoP proof was sent with a Bearer token', 'E2, DPOP-18, M5'),
  GW_DPOP_PROOF_MISSING: e(400, 'invalid_request', 'used', 'The DPoP scheme requires a DPoP proof', 'E2, DPOP-15, M6'),

  // E3: invalid_token.
  GW_TOKEN_MALFORMED: e(401, 'invalid_token', 'used', 'The access token is malformed', 'E3, JWT-11, TOK-9'),
  GW_TOKEN_INVALID: e(401, 'invalid_token', 'used', 'The access token is invalid', 'E3, JWT-1..JWT-5, JWT-10, JWT-12, JWT-13'),
  GW_TOKEN_EXPIRED: e(401, 'invalid_token', 'used', 'The access token is expired or not yet valid', 'E3, JWT-8, JWT-9, Q-3'),
  GW_TOKEN_INACTIVE: e(401, 'invalid_token', 'used', 'The access token is not active', 'E3, INT-2, TOK-3'),
  GW_TOKEN_ISSUER: e(401, 'invalid_token', 'used', 'The access token issuer is not accepted here', 'E3, TOK-4, JWT-6'),
  GW_TOKEN_AUDIENCE: e(401, 'invalid_token', 'used', 'The access token is not meant for this resource', 'E3, TOK-5, JWT-7'),
  GW_TOKEN_UNBOUND: e(401, 'invalid_token', 'used', 'The access token is not sender-constrained', 'E3, TOK-1, MTLS-6, M11'),
  GW_TOKEN_CNF_INVALID: e(401, 'invalid_token', 'used', 'The access token confirmation is invalid', 'E3, TOK-2'),
  GW_BINDING_NOT_ACCEPTED: e(401, 'invalid_token', 'used', 'The access token binding is not accepted here', 'E3, route binding policy'),
  GW_CERT_MISSING: e(401, 'invalid_token', 'used', 'A client certificate is required for this token', 'E3, MTLS-2, MTLS-3, Q-2, M3'),
  GW_CERT_MISMATCH: e(401, 'invalid_token', 'used', 'The client certificate does not match the token', 'E3, MTLS-2, MTLS-3, M3'),
  GW_CERT_UNTRUSTED: e(401, 'invalid_token', 'used', 'The client certificate is not trusted', 'E3, MTLS-4'),
  GW_CERT_KEY_WEAK: e(401, 'invalid_token', 'used', 'The client certificate key is too weak', 'E3, TLS-7, FAPI2-SP §5.4.1'),
  GW_DPOP_BOUND_AS_BEARER: e(401, 'invalid_token', 'used', 'A DPoP-bound token must use the DPoP scheme', 'E3, DPOP-17, Q-5, M4'),
  GW_DPOP_SCHEME_UNBOUND: e(401, 'invalid_token', 'used', 'The DPoP scheme requires a DPoP-bound token', 'E3, DPOP-16, MTLS-1, M10'),
  GW_DPOP_KEY_MISMATCH: e(401, 'invalid_token', 'used', 'The DPoP proof key does not match the token', 'E3, DPOP-14, Q-1, M9'),

  // E4 / E5: DPoP proof.
  GW_DPOP_PROOF_INVALID: e(401, 'invalid_dpop_proof', 'used', 'The DPoP proof is invalid', 'E4, DPOP-1..DPOP-13, DPOP-23, M8'),
  GW_DPOP_PROOF_PREDATES_STORE: e(401, 'invalid_dpop_proof', 'used', 'The DPoP proof is older than the replay record; send a new proof', 'E4, DPOP-21, Q-1'),
  GW_DPOP_REPLAY: e(401, 'invalid_dpop_proof', 'used', 'The DPoP proof was already used', 'E4, DPOP-21, Q-1'),
  GW_DPOP_NONCE_REQUIRED: e(401, 'use_dpop_nonce', 'used', 'A fresh DPoP nonce is required', 'E5, DPOP-24..DPOP-26, M16'),

  // E6: insufficient_scope.
  GW_INSUFFICIENT_SCOPE: e(403, 'insufficient_scope', 'used', 'The access token lacks a required scope', 'E6, TOK-6, ERR-4, M15'),
  GW_INSUFFICIENT_AUTHORIZATION_DETAILS: e(403, 'insufficient_scope', 'used', 'The access token does not authorize this request', 'E6, TOK-7'),
  GW_RESOURCE_NOT_GRANTED: e(403, 'insufficient_scope', 'used', 'The access token does not grant access to this resource', 'E6, TOK-8, Q-9'),

  // Step-up (RFC 9470).
  GW_STEP_UP_REQUIRED: e(401, 'insufficient_user_authentication', 'used', 'A stronger or more recent user authentication is required', 'STEP-1..STEP-3'),
  GW_STEP_UP_NO_USER: e(403, 'insufficient_scope', 'used', 'This resource needs a token issued to an authenticated user', 'STEP-5'),

  // E8: HTTP message signatures (Q-14: the code is not standardised; invalid_request until it is).
  GW_HTTP_SIG_MISSING: e(401, 'invalid_request', 'used', 'This resource requires a signed request', 'E8, SIG-2, Q-14'),
  GW_HTTP_SIG_INVALID: e(401, 'invalid_request', 'used', 'The request signature is invalid', 'E8, SIG-2..SIG-7, Q-14'),

  // E9 and upstream failures: fail closed.
  GW_JWKS_UNAVAILABLE: e(503, 'temporarily_unavailable', 'none', 'A dependency is unavailable, retry later', 'E9, JWT-4, TLS-11'),
  GW_CLIENT_JWKS_UNAVAILABLE: e(503, 'temporarily_unavailable', 'none', 'A dependency is unavailable, retry later', 'E9, SIG-2, TLS-11'),
  GW_INTROSPECTION_UNAVAILABLE: e(503, 'temporarily_unavailable', 'none', 'A dependency is unavailable, retry later', 'E9, INT-2, INT-8'),
  GW_REPLAY_STORE_UNAVAILABLE: e(503, 'temporarily_unavailable', 'none', 'A dependency is unavailable, retry later', 'E9, DPOP-22, Q-13'),
  GW_BUFFERS_FULL: e(503, 'temporarily_unavailable', 'none', 'The gateway is busy, retry later', 'http_signatures.max_buffered_bytes (signed bodies held at once)'),
  GW_UPSTREAM_UNAVAILABLE: e(502, 'bad_gateway', 'none', 'The upstream service is unavailable', 'forwarding'),
  GW_UPSTREAM_TIMEOUT: e(504, 'gateway_timeout', 'none', 'The upstream service did not answer in time', 'forwarding'),
  GW_INTERNAL: e(500, 'server_error', 'none', 'Internal error', 'never expected; logged with detail'),
});

export type ErrorCode = keyof typeof CATALOG;
