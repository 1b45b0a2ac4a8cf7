// Shared vocabulary of the pipeline. Types only: no runtime code lives here.
import type { IncomingMessage } from 'node:http';

/** Sender-constraint policy of a route. `none` is the non-FAPI escape hatch. */
export type BindingPolicy = 'mtls' | 'dpop' | 'any' | 'none';
export type RouteProfile = 'fapi2' | 'fapi1-advanced' | 'non-fapi';
export type AuthScheme = 'bearer' | 'dpop';

/** What the listener knows about a request before any check runs. Computed once. */
export interface RequestFacts {
  readonly req: IncomingMessage;
  readonly interactionId: string;
  /** The original (client-sent) interaction id when it was replaced, sanitised, for the log. */
  readonly replacedInteractionId?: string;
  readonly method: string;
  /** Normalised path, the one routes match and the upstream receives. */
  readonly path: string;
  /** Raw query string without the leading `?` ('' when none). */
  readonly query: string;
  /** Host header, lower-cased, port removed. */
  readonly host: string;
  readonly remoteAddress: string;
  /** base64url(SHA-256(DER)) of the leaf client certificate on this TLS connection. */
  readonly clientCertThumbprint: string | undefined;
  /** Whether the client chain validated against the configured client CA. */
  readonly clientCertTrusted: boolean;
  /** Why the client certificate's key is too weak to bind a token (TLS-7); undefined when it is not. */
  readonly clientCertWeakKey: string | undefined;
}

/** TOK-8: where a token lists the resources it grants; the bound one is the segment after the prefix. */
export interface ResourceBinding {
  /** The route's path_prefix without a trailing slash ('' for '/'); undefined on an exact-path route (query only). */
  readonly prefix: string | undefined;
  /** The canonical name (route/query.ts) of the bound query parameter, if any, and as configured. */
  readonly queryParam: { readonly canonical: string; readonly name: string } | undefined;
  /** authorization_details entries meeting the rule grant the strings at `path` (member names). */
  readonly details: readonly (DetailRule & { readonly path: readonly string[] })[];
  readonly scopePrefix: string | undefined;
  /** Methods allowed on a request that names no resource (the prefix itself, no query_param value). */
  readonly collectionMethods: ReadonlySet<string>;
}

export interface StepUpRule {
  /** Accepted `acr` values in preference order; empty when only max_age is required. */
  readonly acrValues: readonly string[];
  readonly maxAgeS: number | undefined;
  /** The largest clock leeway of the route's issuers, applied to `auth_time`. */
  readonly leewayS: number;
}

export interface ScopeRule {
  readonly allOf: readonly string[];
  readonly anyOf: readonly string[];
}

/** TOK-7: one required `authorization_details` entry (RFC 9396 §2). */
export interface DetailRule {
  readonly type: string;
  readonly actions: readonly string[];
  readonly datatypes: readonly string[];
  /** Empty: any (or no) locations; else the entry must list at least one of these. */
  readonly locations: readonly string[];
}

export interface DetailsRule {
  readonly allOf: readonly DetailRule[];
  readonly anyOf: readonly DetailRule[];
}

/** What a route changes in its upstream's answers besides the gateway's own headers (undefined: nothing). */
export interface ResponseRules {
  /** HDR-15: the route has a CORS policy; the upstream's access-control-* are dropped, Vary: Origin added. */
  readonly cors: boolean;
  /** HDR-7: the upstream answers JSON; a 2xx body without a JSON Content-Type is labelled application/json. */
  readonly json: boolean;
}

/** HDR-15: a route's CORS policy, compiled (header values joined once). */
export interface CorsPolicy {
  readonly origins: ReadonlySet<string>;
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
}

export interface DpopRouteOptions {
  readonly nonce: boolean;
}

/** A compiled route: everything a request needs, resolved at config load. */
export interface Route {
  readonly id: string;
  readonly methods: ReadonlySet<string>;
  readonly host: string | undefined;
  readonly pathPrefix: string | undefined;
  readonly exactPath: string | undefined;
  readonly profile: RouteProfile;
  readonly issuers: readonly string[];
  readonly audience: string;
  readonly binding: BindingPolicy;
  readonly scopes: ScopeRule;
  /** TOK-7: undefined when the route requires no `authorization_details`. */
  readonly authorizationDetails: DetailsRule | undefined;
  /** TOK-8: undefined when the route does not bind the requested resource to the token. */
  readonly resourceBinding: ResourceBinding | undefined;
  /** STEP-1: undefined when the route sets no step-up rule. */
  readonly stepUp: StepUpRule | undefined;
  readonly forwardCredentials: boolean;
  readonly dpop: DpopRouteOptions;
  /** SIG-2..SIG-7: requests must carry the client's RFC 9421 signature. */
  readonly signedRequests: boolean;
  /** SIG-8: the upstream's responses are signed by the gateway. */
  readonly signResponses: boolean;
  readonly upstream: UpstreamTarget;
  /** Schemes offered in challenges, in order. */
  readonly schemes: readonly AuthScheme[];
  /** HDR-15: undefined when the route has no CORS policy (the upstream's CORS headers pass as sent). */
  readonly cors: CorsPolicy | undefined;
  readonly responseRules: ResponseRules | undefined;
  /** DPOP-10: `public_origin` when the route sets its own (else server.public_origin), and its host. */
  readonly publicOrigin: string | undefined;
  readonly publicHost: string | undefined;
}

export interface UpstreamTarget {
  readonly url: URL;
  /** PEM of `ca_file`: the only CAs an https:// upstream may chain to; undefined: Node's bundle. */
  readonly ca: string | undefined;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly preserveHost: boolean;
  /** Largest request body forwarded (route override or server.limits.max_body_bytes). */
  readonly maxBodyBytes: number;
  /** Decoded names of the parameters in the url's query, which a client may not send again. */
  readonly fixedQuery: ReadonlySet<string> | undefined;
}

/** The one credential a request carried. */
export interface Credentials {
  readonly scheme: AuthScheme;
  readonly token: string;
  /** Hex SHA-256 of `token`: the token cache key. */
  readonly tokenSha256: string;
  /** Raw `DPoP` header fields, counted as received. */
  readonly proofs: readonly string[];
}

export type Confirmation =
  | { readonly kind: 'x5t'; readonly thumbprint: string }
  | { readonly kind: 'jkt'; readonly thumbprint: string }
  | { readonly kind: 'none' };

/** A validated access token. */
export interface TokenClaims {
  readonly issuerName: string;
  readonly issuer: string;
  readonly subject: string | undefined;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  readonly audience: readonly string[];
  readonly expiresAt: number;
  readonly cnf: Confirmation;
  /** `token_type` from introspection, when present. */
  readonly tokenType?: string;
  readonly acr?: string;
  readonly authTime?: number;
  /** JWT-14: `amr` when it is an array of strings. */
  readonly amr?: readonly string[] | undefined;
  /** RFC 9396 `authorization_details` as parsed, when it is an array (TOK-7). */
  readonly authorizationDetails?: readonly unknown[] | undefined;
  /** base64url of its JSON for the upstream; undefined when there are no entries. */
  readonly authorizationDetailsHeader?: string | undefined;
  /** Hex SHA-256 of the access token, computed once, for logs and caches. */
  readonly tokenHash: string;
}

/** Outcome of the sender-constraint check. The replay claim is deferred to the end of the pipeline. */
export interface Binding {
  readonly kind: 'mtls' | 'dpop' | 'none';
  readonly thumbprint: string | undefined;
  readonly replay?: { readonly key: string; readonly ttlMs: number; readonly iatS: number };
  /** Headers for the client's response, e.g. the next `DPoP-Nonce` (DPOP-27). */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}

/** What the upstream is told about the caller. */
export interface Principal {
  readonly claims: TokenClaims;
  readonly binding: Binding;
}
