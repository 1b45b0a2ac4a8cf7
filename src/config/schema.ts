// The config schema: the single source for validation, defaults and the editor JSON Schema.
import { z } from 'zod';

export const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export const JWT_ALGS = [...FAPI_ALGS, 'RS256'] as const;

// 1 TiB: "no practical limit" for one route, still an integer JSON Schema and every parser handles.
const MAX_BODY_LIMIT = 2 ** 40;

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:8443')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');
// WHATWG URLs accept `${HOST}` as a host name: a reference someone expected to be expanded (config values
// never are), which would only fail at the first request.
const PLAIN_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/i;
const plainHost = (u: string): boolean => {
  const x = URL.parse(u);
  return x !== null && PLAIN_HOST.test(x.hostname);
};
const HOST_MESSAGE = 'the host is not a DNS name or IP address (config values are not expanded: write the host itself)';
const httpsUrl = z.url({ protocol: /^https$/, error: 'expected an https:// URL' }).refine(plainHost, HOST_MESSAGE);
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name');
// RFC 6749 scope-token (NQCHAR without space); also safe inside a quoted challenge value (ERR-6).
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'scope tokens are printable ASCII without " or \\');
const headerName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case header name');
const path = z
  .string()
  .regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/, 'an absolute path without query')
  .refine((p) => !/(^|\/)\.{1,2}(\/|$)/.test(p), 'no dot-segments');

// DPOP-10: the https origin clients call, the base of every expected DPoP `htu`.
const publicOrigin = httpsUrl.refine((u) => {
  const x = new URL(u);
  return x.pathname === '/' && x.search === '' && x.hash === '' && x.username === '' && x.password === '';
}, 'public_origin is an origin: scheme, host and optional port only');

const tls = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** Trust anchors for client certificates; when set, bound certificates must chain to it (MTLS-4). */
  client_ca_file: z.string().min(1).optional(),
  /** `fapi2`: TLS 1.3 preferred, TLS 1.2 BCP195 ECDHE-GCM suites. `fapi1`: the FAPI 1.0 four-suite list. */
  profile: z.enum(['fapi2', 'fapi1']).default('fapi2'),
  /** Request (default) or require a client certificate at the handshake (TLS-8, TLS-9). */
  client_certificate: z.enum(['optional', 'required']).default('optional'),
});

const limits = z.strictObject({
  max_header_bytes: z.int().min(1024).max(65536).default(16384),
  max_headers: z.int().min(16).max(1000).default(100),
  max_credential_bytes: z.int().min(512).max(32768).default(8192),
  /** the largest encoded authorization_details header sent upstream; a token with more gets 431. */
  max_authorization_details_bytes: z.int().min(256).max(65536).default(8192),
  /** Request bodies larger than this get 413: by Content-Length before anything else, chunked ones as they arrive. */
  max_body_bytes: z.int().min(0).max(MAX_BODY_LIMIT).default(10_485_760),
  headers_timeout_ms: z.int().min(100).max(120000).default(10000),
  request_timeout_ms: z.int().min(100).max(600000).default(30000),
  keep_alive_timeout_ms: z.int().min(100).max(600000).default(5000),
  /** A client that reads nothing of a response for this long is cut (nginx's send_timeout). */
  send_timeout_ms: z.int().min(100).max(600000).default(60000),
  handshake_timeout_ms: z.int().min(100).max(120000).default(10000),
  /** Requests one connection may have waiting behind the one being answered (HTTP/1.1 pipelining). */
  max_pipelined_requests: z.int().min(1).max(1024).default(32),
}).refine((l) => l.headers_timeout_ms <= l.request_timeout_ms, {
  // Node refuses a server whose head timeout exceeds its request timeout (ERR_OUT_OF_RANGE at start).
  message: 'headers_timeout_ms (default 10000) must not exceed request_timeout_ms: set both',
  path: ['headers_timeout_ms'],
}).refine((l) => l.send_timeout_ms >= l.headers_timeout_ms + 1000, {
  // A connection quiet for send_timeout_ms with no response under way is closed: a head still arriving
  // must get its 408 first (Node checks headers_timeout_ms once a second).
  message: 'send_timeout_ms (default 60000) must be at least headers_timeout_ms (default 10000) + 1000',
  path: ['send_timeout_ms'],
});

const server = z.strictObject({
  listen,
  /** Processes sharing the listener (node:cluster). More than one needs the Redis replay store. */
  workers: z.union([z.int().min(1).max(64), z.literal('auto')]).default(1),
  /** On SIGTERM, in-flight requests get this long to finish; then their connections are cut. Restart-only. */
  drain_timeout_ms: z.int().min(0).max(600000).default(10000),
  /** The origin clients use; DPoP `htu` is checked against it, never against Host or X-Forwarded-*. */
  public_origin: publicOrigin,
  realm: z.string().regex(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/, 'printable ASCII without " or \\ (it is a quoted string in every challenge, ERR-6)').optional(),
  tls,
  limits: limits.prefault({}),
  /** MTLS-5: accept the client certificate from a header, only from these trusted TLS-terminating hops. */
  forwarded_client_cert: z
    .strictObject({
      header: z.enum(['client-cert', 'x-forwarded-client-cert', 'ssl-client-cert']),
      trusted_peers: z
        .array(
          z
            .cidrv4()
            .or(z.cidrv6())
            .or(z.ipv4())
            .or(z.ipv6())
            // Every address would be a trusted hop: any client could supply the certificate header.
            .refine((p) => !/\/0+$/.test(p), 'a /0 range trusts every client to send the certificate header: name the hop\'s addresses'),
        )
        .default([]),
      /** x5t#S256 of the hop's own client certificate on the TLS connection (an mTLS hop). */
      trusted_peer_certificates: z.array(z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url SHA-256 thumbprint')).default([]),
    })
    .refine((f) => f.trusted_peers.length + f.trusted_peer_certificates.length > 0, 'name at least one trusted peer or peer certificate')
    .optional(),
  /** lenient replaces a non-UUID x-fapi-interaction-id; strict refuses it with 400. */
  interaction_id: z.enum(['lenient', 'strict']).default('lenient'),
  /** HDR-4/5: lenient forwards x-fapi-customer-ip-address and x-fapi-auth-date as sent; strict refuses malformed ones with 400. */
  fapi_headers: z.enum(['lenient', 'strict']).default('lenient'),
});

/** RFC 7662 / RFC 9701 introspection client settings of an issuer (INT-1..INT-8). */
const introspection = z.strictObject({
  /** Without it, discovered from metadata `introspection_endpoint` (or its mTLS alias for tls_client_auth). */
  endpoint: httpsUrl.optional(),
  client_id: z.string().min(1),
  auth: z.enum(['private_key_jwt', 'tls_client_auth', 'client_secret_basic']),
  /** private_key_jwt: PEM PKCS#8 or JWK JSON file. */
  private_key_file: z.string().min(1).optional(),
  /** private_key_jwt: defaults from the key type (RSA PS256, P-256 ES256, Ed25519 EdDSA). */
  private_key_alg: z.enum(['PS256', 'ES256', 'EdDSA']).optional(),
  /** tls_client_auth: the gateway's client certificate and key (PEM). */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** client_secret_basic: env var holding the client secret. */
  client_secret_env: envName.optional(),
  /**
   * INT-3: refuse active answers without `aud`. false only for an AS that never returns one: its tokens
   * are then accepted on every route that lists this issuer (an `aud` it does return is still checked).
   */
  require_audience: z.boolean().default(true),
  /** RFC 9701: ask for and require a signed (JWT) introspection response (INT-7). */
  signed_response: z.boolean().default(false),
  timeout_ms: z.int().min(100).max(30000).default(2000),
  /** INT-6: an active answer is cached until min(exp, now + cache_max_s); 0 disables. */
  cache_max_s: z.int().min(0).max(3600).default(60),
  /** INT-6: an inactive answer is cached this long (at most 10 s); 0 disables. */
  negative_cache_s: z.int().min(0).max(10).default(10),
  cache_max_entries: z.int().min(1).max(10_000_000).default(10000),
  /**
   * INT-8: calls to this AS (discovery included) under way at once. A new token beyond it gets 503 at
   * once rather than piling onto a slow or hanging AS; identical tokens share one call.
   */
  max_in_flight: z.int().min(1).max(10_000).default(64),
});

const issuer = z.strictObject({
  issuer: httpsUrl,
  /** TOK-9: how this issuer's access tokens are validated; never guessed from the token. */
  token_format: z.enum(['jwt', 'opaque']).default('jwt'),
  /** `introspect` also introspects locally valid JWTs (needs `introspection`). */
  revocation: z.enum(['none', 'introspect']).default('none'),
  introspection: introspection.optional(),
  /** Without it, jwks_uri is discovered from RFC 8414 / OIDC metadata. */
  jwks_uri: httpsUrl.optional(),
  algorithms: z.array(z.enum(JWT_ALGS)).min(1).default([...FAPI_ALGS]),
  /** extra `typ` values this issuer puts on access tokens (besides at+jwt). */
  extra_token_types: z.array(z.string().min(1)).default([]),
  /** JWT-1, Q-10: accept access tokens without `typ` from this issuer (PingFederate's default); aud is still checked. */
  allow_missing_token_type: z.boolean().default(false),
  clock_leeway_s: z.int().min(0).max(60).default(10),
  /** refuse tokens whose exp - iat is larger. */
  max_token_age_s: z.int().min(1).optional(),
  /** PEM bundle trusted for this issuer's TLS in addition to the system roots (TLS-11). */
  ca_file: z.string().min(1).optional(),
  http_timeout_ms: z.int().min(100).max(30000).default(2000),
  jwks_refetch_cooldown_s: z.int().min(1).max(3600).default(30),
  jwks_refresh_s: z.int().min(10).max(86400).default(300),
});

const scopes = z.strictObject({
  all_of: z.array(scopeToken).default([]),
  any_of: z.array(scopeToken).default([]),
});

// TOK-7 (RFC 9396 §2): one rule matches one `authorization_details` entry of the token.
const rarString = z.string().min(1).max(512);
const authorizationDetail = z.strictObject({
  type: rarString,
  /** The entry's `actions` hold all of these. */
  actions: z.array(rarString).min(1).optional(),
  /** The entry's `datatypes` hold all of these. */
  datatypes: z.array(rarString).min(1).optional(),
  /** The entry's `locations` hold at least one of these (the identifiers this API answers to). */
  locations: z.array(rarString).min(1).optional(),
});
const authorizationDetails = z
  .strictObject({
    all_of: z.array(authorizationDetail).default([]),
    any_of: z.array(authorizationDetail).default([]),
  })
  .refine((r) => r.all_of.length + r.any_of.length > 0, 'set all_of, any_of or both');

// TOK-8, Q-9: the resource a request names (the path segment after the route's path_prefix) must be
// one the token grants: listed in its authorization_details, or in a scope with a prefix.
const resourceBinding = z
  .strictObject({
    /**
     * Entries of `type` (holding these actions and datatypes, and one of these locations, as a TOK-7
     * rule) grant the string(s) at `field` (a dotted path; arrays are looked through).
     */
    authorization_details: z
      .array(
        z.strictObject({
          type: rarString,
          actions: z.array(rarString).min(1).optional(),
          datatypes: z.array(rarString).min(1).optional(),
          locations: z.array(rarString).min(1).optional(),
          field: z
            .string()
            .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'a member name or a dotted path of them (accounts, creditorAccount.iban)')
            .default('identifier'),
        }),
      )
      .min(1)
      .optional(),
    /** Scope tokens that start with this grant what follows it (`account:123` with prefix `account:`). */
    scope_prefix: scopeToken.optional(),
    /** Also bind every value of this query parameter (`?accountId=...`), in any spelling an upstream reads. */
    query_param: z.string().regex(/^[A-Za-z0-9_-]+$/, 'a parameter name of letters, digits, _ and -').optional(),
    /** Methods allowed on a request that names no resource (the path_prefix itself, no query_param): a list, a create. */
    collection_methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])).default(['GET', 'HEAD', 'POST']),
  })
  .refine((b) => b.authorization_details !== undefined || b.scope_prefix !== undefined, 'set authorization_details, scope_prefix or both');

// HDR-15: an origin exactly as a browser sends it in `Origin`, i.e. its WHATWG URL serialisation:
// lower-case, no default port, no leading zeros, canonical IPv4/IPv6, punycode host names, no path,
// never `*` or `null`. One check, one message per origin.
const origin = z
  .string()
  .refine(
    (o) => /^https?:\/\/[^/?#@]+$/.test(o) && URL.parse(o)?.origin === o,
    'not an origin as browsers send it: http(s)://host[:port] as new URL(o).origin prints it (lower-case, punycode, canonical IP, no default port, no path or trailing /, never * or null)',
  );
const cors = z.strictObject({
  allowed_origins: z.array(origin).min(1),
  /** Request headers allowed besides authorization, dpop, content-type and the x-fapi-* headers. */
  allowed_headers: z.array(headerName).default([]),
  /** Response headers exposed besides www-authenticate, dpop-nonce, x-fapi-interaction-id, retry-after. */
  exposed_headers: z.array(headerName).default([]),
  max_age_s: z.int().min(0).max(86_400).default(600),
});

const route = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'route ids are [A-Za-z0-9._-]'),
  /** fapi2 and fapi1-advanced refuse RS256 issuers and unbound tokens; fapi1-advanced is mTLS only. */
  profile: z.enum(['fapi2', 'fapi1-advanced', 'non-fapi']).default('fapi2'),
  match: z
    .strictObject({
      methods: z
        .array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']))
        .min(1),
      path_prefix: path.optional(),
      path: path.optional(),
      host: z
        .string()
        .regex(/^[a-z0-9.-]+$/, 'lower-case host name without port')
        .optional(),
    })
    .refine((m) => (m.path_prefix === undefined) !== (m.path === undefined), 'set exactly one of path_prefix or path'),
  auth: z.strictObject({
    issuers: z.array(z.string().min(1)).min(1),
    audience: z.string().min(1),
    binding: z.enum(['mtls', 'dpop', 'any', 'none']).default('any'),
    scopes: scopes.prefault({}),
    /** TOK-7: `authorization_details` (RAR) entries the token must carry; checked after the scopes. */
    authorization_details: authorizationDetails.optional(),
    /** TOK-8: the first path segment after match.path_prefix must be granted by the token. */
    resource_binding: resourceBinding.optional(),
    /** forward Authorization / DPoP upstream (off by default, HDR-11). */
    forward_credentials: z.boolean().default(false),
    /** Require a server-provided DPoP nonce on this route (DPOP-24). */
    dpop_nonce: z.boolean().default(false),
    /** SIG-2..SIG-7: every request must carry an RFC 9421 signature by its client (keys in http_signatures). */
    signed_requests: z.boolean().default(false),
    /** STEP-1 (RFC 9470): the user authentication the token must carry. */
    step_up: z
      .strictObject({
        /** `acr` must be one of these (exact match); in preference order, as the challenge lists them. */
        acr_values: z.array(scopeToken).min(1).optional(),
        /** `auth_time` no older than this many seconds (plus the issuer's clock leeway). */
        max_age_s: z.int().min(0).max(31_536_000).optional(),
      })
      .refine((s) => s.acr_values !== undefined || s.max_age_s !== undefined, 'set acr_values, max_age_s or both')
      .optional(),
  }),
  upstream: z.strictObject({
    // No credentials in the URL: `check` prints it, and logs name the upstream by it.
    // Judged on the parsed URL: `http:///user:pass@host` parses as `http://user:pass@host/`.
    url: z.url({ protocol: /^https?$/ }).refine((u) => {
      const x = URL.parse(u);
      return x !== null && x.username === '' && x.password === '' && !/^https?:\/\/[^/?#]*@/i.test(u);
    }, 'no user:password@ in the url').refine(plainHost, HOST_MESSAGE),
    timeout_ms: z.int().min(100).max(600000).default(30000),
    connect_timeout_ms: z.int().min(50).max(60000).default(5000),
    /** Send the client's Host upstream instead of the upstream's own host. */
    preserve_host: z.boolean().default(false),
    /** Overrides server.limits.max_body_bytes for this route. */
    max_body_bytes: z.int().min(0).max(MAX_BODY_LIMIT).optional(),
    /** HDR-7: this upstream answers JSON; label its 2xx bodies application/json when it does not. */
    json_content_type: z.boolean().default(false),
    /** PEM CA(s) that an https:// upstream's certificate must chain to, instead of Node's bundle. */
    ca_file: z.string().min(1).optional(),
  }).refine((u) => u.ca_file === undefined || u.url.startsWith('https:'), { message: 'ca_file needs an https:// url', path: ['ca_file'] }),
  /** SIG-8: sign the upstream's responses with http_signatures.response_signing (buffers them whole). */
  sign_responses: z.boolean().default(false),
  /** DPOP-10: the origin clients call this route at, when not server.public_origin (a second host name). */
  public_origin: publicOrigin.optional(),
  /** HDR-15: answer CORS preflights and let these browser origins read responses; off unless set. */
  cors: cors.optional(),
});

// Names the gateway writes itself, or that carry framing or credentials: an identity value there would
// be overwritten or would change what the upstream does with the request.
const RESERVED_HEADER_NAMES: ReadonlySet<string> = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect',
  'authorization', 'proxy-authorization', 'dpop', 'cookie', 'x-fapi-interaction-id',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded',
]);
const identityHeaders = z
  .strictObject({
    subject: headerName.default('x-authenticated-subject'),
    client_id: headerName.default('x-authenticated-client-id'),
    scope: headerName.default('x-authenticated-scope'),
    issuer: headerName.default('x-authenticated-issuer'),
    binding: headerName.default('x-authenticated-binding'),
    key_thumbprint: headerName.default('x-authenticated-key-thumbprint'),
    /** base64url of the token's `authorization_details` JSON (RFC 9396), when it has any. */
    authorization_details: headerName.default('x-authenticated-authorization-details'),
    /** HDR-10, JWT-14: the user authentication, for an upstream that judges it itself (sent when present). */
    acr: headerName.default('x-authenticated-acr'),
    auth_time: headerName.default('x-authenticated-auth-time'),
    amr: headerName.default('x-authenticated-amr'),
  })
  .superRefine((h, ctx) => {
    const seen = new Map<string, string>();
    for (const [k, v] of Object.entries(h)) {
      if (RESERVED_HEADER_NAMES.has(v)) ctx.addIssue({ code: 'custom', path: [k], message: `${v} is reserved (framing, credentials or set by the gateway)` });
      const other = seen.get(v);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${v} is already the ${other} header` });
      seen.set(v, k);
    }
  });

const dpop = z.strictObject({
  algorithms: z.array(z.enum(FAPI_ALGS)).min(1).default([...FAPI_ALGS]),
  iat_past_s: z.int().min(60).max(300).default(300),
  iat_future_s: z.int().min(0).max(60).default(10),
  nonce: z
    .strictObject({
      /** Env var holding the HMAC secret(s), comma-separated; the first signs, all verify (rotation). */
      secret_env: envName,
      step_s: z.int().min(10).max(600).default(60),
      window_s: z.int().min(30).max(3600).default(300),
    })
    // A nonce lives window_s from the start of its step: one issued at a step's end, window_s - step_s.
    .refine((n) => n.window_s >= 2 * n.step_s, { message: 'window_s must be at least 2 x step_s (a nonce issued at the end of a step lives window_s - step_s)', path: ['window_s'] })
    .optional(),
});

const redis = z.strictObject({
  mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
  /** Env var holding the redis:// or rediss:// URL (standalone; sentinel and cluster list their nodes). */
  url_env: envName.optional(),
  password_env: envName.optional(),
  sentinels: z.array(z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535) })).min(1).optional(),
  sentinel_name: z.string().min(1).optional(),
  nodes: z.array(z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535) })).min(1).optional(),
  tls: z.boolean().default(false),
  /** PEM CA(s) the Redis server certificate must chain to (a private CA), instead of Node's bundle; needs tls. */
  ca_file: z.string().min(1).optional(),
  key_prefix: z.string().default('fapi:dpop:'),
  connect_timeout_ms: z.int().min(50).max(30000).default(1000),
  command_timeout_ms: z.int().min(10).max(10000).default(250),
}).refine((r) => r.ca_file === undefined || r.tls, { message: 'ca_file needs tls: true', path: ['ca_file'] });

// SIG-2: a client's public keys, by the access token's client_id. Checked further when compiled
// (key type against alg, RSA size): see signature/client-keys.ts.
export const signingJwk = z.looseObject({
  kty: z.enum(['RSA', 'EC', 'OKP']),
  kid: z.string().min(1),
  alg: z.enum(FAPI_ALGS),
  d: z.never({ error: 'a private key: give the public key only' }).optional(),
});
export const signingJwks = z.strictObject({ keys: z.array(signingJwk).min(1) });
// SIG-8, SIG-9: the gateway's own keys for signing responses; the first signs, all are published.
const responseSigning = z.strictObject({
  keys: z
    // kid goes out as the RFC 8941 String `keyid`: printable ASCII only.
    .array(z.strictObject({ key_file: z.string().min(1), kid: z.string().regex(/^[\x20-\x7e]+$/, 'printable ASCII (it is sent as keyid)'), alg: z.enum(FAPI_ALGS) }))
    .min(1)
    .refine((ks) => new Set(ks.map((k) => k.kid)).size === ks.length, 'kids must be unique'),
  /** A signed response is buffered whole (its Content-Digest comes first): larger ones get 502. */
  max_body_bytes: z.int().min(0).max(1_073_741_824).default(10_485_760),
  /** Where the gateway serves the public keys (JWKS), the `jwks_uri` of its RFC 9728 metadata. */
  jwks_path: z
    .string()
    .regex(/^(\/(?!\.\.?(\/|$))[A-Za-z0-9._~-]+)+$/, 'an absolute path of letters, digits and . _ ~ -, no dot-segments (matched as written)')
    .default('/.well-known/fapi-gateway/jwks.json'),
});
/** http_signatures.max_buffered_bytes: 256 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 268_435_456;
const httpSignatures = z.strictObject({
  /** SIG-4: |now - created| may be at most this many seconds. */
  max_age_s: z.int().min(1).max(300).default(60),
  /** SIG-6: a signed request's body is held in memory to be digested; the largest one (or the route's limit if lower). */
  max_body_bytes: z.int().min(0).max(1_073_741_824).default(10_485_760),
  /** What signed request and response bodies may hold at once, together; past it, 503. */
  max_buffered_bytes: z.int().min(1_048_576).max(68_719_476_736).default(DEFAULT_MAX_BUFFERED_BYTES),
  clients: z
    .record(
      z.string().min(1),
      z
        .strictObject({ jwks: signingJwks.optional(), jwks_file: z.string().min(1).optional(), jwks_uri: httpsUrl.optional() })
        .refine((k) => [k.jwks, k.jwks_file, k.jwks_uri].filter((v) => v !== undefined).length === 1, 'set exactly one of jwks, jwks_file or jwks_uri'),
    )
    .default({}),
  /** How clients' `jwks_uri` documents are fetched (TLS-11), refreshed and refetched on an unknown keyid. */
  client_jwks: z
    .strictObject({
      /** PEM bundle trusted in addition to the system roots (a directory's private CA). */
      ca_file: z.string().min(1).optional(),
      http_timeout_ms: z.int().min(100).max(30000).default(2000),
      refresh_s: z.int().min(10).max(86400).default(300),
      refetch_cooldown_s: z.int().min(1).max(3600).default(30),
      max_bytes: z.int().min(1024).max(4_194_304).default(1_048_576),
    })
    .prefault({}),
  response_signing: responseSigning.optional(),
});

const replay = z.strictObject({
  store: z.enum(['memory', 'redis']).default('memory'),
  memory_max_entries: z.int().min(1000).default(1_000_000),
  redis: redis.optional(),
});

export const configSchema = z
  .strictObject({
    server,
    admin: z.strictObject({ listen }).optional(),
    issuers: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), issuer),
    dpop: dpop.prefault({}),
    replay: replay.prefault({}),
    routes: z.array(route).min(1),
    identity_headers: identityHeaders.prefault({}),
    /** SIG-2..SIG-9: clients' keys for signed requests, the gateway's keys for signed responses. */
    http_signatures: httpSignatures.optional(),
    /** RFC 9728 Protected Resource Metadata (PRM-*): off unless set. */
    resource_metadata: z
      .strictObject({
        resource_name: z.string().min(1).optional(),
        resource_documentation: httpsUrl.optional(),
        /** PRM-4: Cache-Control max-age of the metadata documents. */
        max_age_s: z.int().min(0).max(86_400).default(3600),
        /** PRM-6: with tls.client_certificate: required, serve the documents to connections without one. */
        without_client_certificate: z.boolean().default(true),
      })
      .optional(),
    logging: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .prefault({}),
  });

export type GatewayConfig = z.infer<typeof configSchema>;
export type IssuerConfig = z.infer<typeof issuer>;
export type IntrospectionConfig = z.infer<typeof introspection>;
export type RouteConfig = z.infer<typeof route>;
export type SigningJwks = z.infer<typeof signingJwks>;
export type ClientJwksConfig = z.infer<typeof httpSignatures>['client_jwks'];
export type IdentityHeaderNames = z.infer<typeof identityHeaders>;
