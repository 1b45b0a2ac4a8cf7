// The config schema: the single source for validation, defaults and the editor JSON Schema.
import { z } from 'zod';

export const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export const JWT_ALGS = [...FAPI_ALGS, 'RS256'] as const;

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:8443');
const httpsUrl = z.url({ protocol: /^https$/, error: 'expected an https:// URL' });
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name');
// RFC 6749 scope-token (NQCHAR without space); also safe inside a quoted challenge value (ERR-6).
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'scope tokens are printable ASCII without " or \\');
const headerName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case header name');
const path = z
  .string()
  .regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/, 'an absolute path without query')
  .refine((p) => !/(^|\/)\.{1,2}(\/|$)/.test(p), 'no dot-segments');

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
  headers_timeout_ms: z.int().min(100).max(120000).default(10000),
  request_timeout_ms: z.int().min(100).max(600000).default(30000),
  keep_alive_timeout_ms: z.int().min(100).max(600000).default(5000),
  handshake_timeout_ms: z.int().min(100).max(120000).default(10000),
});

const server = z.strictObject({
  listen,
  /** The origin clients use; DPoP `htu` is checked against it, never against Host or X-Forwarded-*. */
  public_origin: httpsUrl.refine((u) => {
    const x = new URL(u);
    return x.pathname === '/' && x.search === '' && x.hash === '' && x.username === '' && x.password === '';
  }, 'public_origin is an origin: scheme, host and optional port only'),
  realm: z.string().regex(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/).optional(),
  tls,
  limits: limits.prefault({}),
  /** lenient replaces a non-UUID x-fapi-interaction-id; strict refuses it with 400. */
  interaction_id: z.enum(['lenient', 'strict']).default('lenient'),
});

const issuer = z.strictObject({
  issuer: httpsUrl,
  /** Without it, jwks_uri is discovered from RFC 8414 / OIDC metadata. */
  jwks_uri: httpsUrl.optional(),
  algorithms: z.array(z.enum(JWT_ALGS)).min(1).default([...FAPI_ALGS]),
  /** extra `typ` values this issuer puts on access tokens (besides at+jwt). */
  extra_token_types: z.array(z.string().min(1)).default([]),
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
    /** forward Authorization / DPoP upstream (off by default, HDR-11). */
    forward_credentials: z.boolean().default(false),
    /** Require a server-provided DPoP nonce on this route (DPOP-24). */
    dpop_nonce: z.boolean().default(false),
  }),
  upstream: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    timeout_ms: z.int().min(100).max(600000).default(30000),
    connect_timeout_ms: z.int().min(50).max(60000).default(5000),
    /** Send the client's Host upstream instead of the upstream's own host. */
    preserve_host: z.boolean().default(false),
  }),
});

const identityHeaders = z.strictObject({
  subject: headerName.default('x-authenticated-subject'),
  client_id: headerName.default('x-authenticated-client-id'),
  scope: headerName.default('x-authenticated-scope'),
  issuer: headerName.default('x-authenticated-issuer'),
  binding: headerName.default('x-authenticated-binding'),
  key_thumbprint: headerName.default('x-authenticated-key-thumbprint'),
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
    .optional(),
});

const redis = z.strictObject({
  mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
  /** Env var holding the redis:// or rediss:// URL (standalone), or the password (sentinel/cluster). */
  url_env: envName.optional(),
  password_env: envName.optional(),
  sentinels: z.array(z.strictObject({ host: z.string(), port: z.int() })).optional(),
  sentinel_name: z.string().optional(),
  nodes: z.array(z.strictObject({ host: z.string(), port: z.int() })).optional(),
  tls: z.boolean().default(false),
  key_prefix: z.string().default('fapi:dpop:'),
  connect_timeout_ms: z.int().min(50).max(30000).default(1000),
  command_timeout_ms: z.int().min(10).max(10000).default(250),
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
    logging: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .prefault({}),
  });

export type GatewayConfig = z.infer<typeof configSchema>;
export type IssuerConfig = z.infer<typeof issuer>;
export type RouteConfig = z.infer<typeof route>;
export type IdentityHeaderNames = z.infer<typeof identityHeaders>;
