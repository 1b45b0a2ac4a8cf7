// RFC 7662 introspection, optionally RFC 9701 signed responses (INT-1..INT-8). One Introspector per
// issuer: it authenticates as a client, checks the answer in the spec's order, and caches by
// SHA-256(token) (INT-6). Route checks (TOK-4, TOK-5) are the caller's, on every request.
import { decodeProtectedHeader, type JWTPayload } from 'jose';
import type { IssuerConfig, IntrospectionConfig } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors/gateway-error.js';
import type { TokenClaims } from '../types.js';
import { metadataUrls } from './discovery.js';
import type { ClientAuthentication } from './client-auth.js';
import { httpsRequest, type HttpClientOptions, type OutboundResponse } from './http-client.js';
import { IntrospectionCache, type CacheLoad } from './introspection-cache.js';
import type { IssuerKeys } from './issuer-keys.js';
import { amrOf, detailsOf, parseConfirmation } from './jwt-validator.js';
import { verifyJwtWithKeys } from './verify-jws.js';

export const JWT_RESPONSE_TYPE = 'application/token-introspection+jwt';
/** Retry-After on a failed introspection (E9). */
const RETRY_AFTER_S = 2;
/**
 * INT-8: after this many consecutive outages (see AsRefusedRequest for what is not one), fail fast for
 * BREAKER_OPEN_MS, then let one call through (half-open): the others keep failing fast until it
 * succeeds, so a recovering AS is not hit by every waiting token at once.
 */
const BREAKER_THRESHOLD = 5;
const BREAKER_OPEN_MS = 2000;
const MAX_RESPONSE_BYTES = 256 * 1024;

export type Transport = (
  url: string,
  opts: HttpClientOptions & { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
) => Promise<OutboundResponse>;

export interface IntrospectionIssuer {
  readonly name: string;
  readonly config: IssuerConfig;
  /** The issuer's JWKS, shared with JWT validation; verifies RFC 9701 responses. */
  readonly keys: Pick<IssuerKeys, 'getKey'>;
}

export interface IntrospectorOptions {
  readonly auth: ClientAuthentication;
  /** Extra CA PEMs for the AS's TLS (the issuer's ca_file), on top of the system roots. */
  readonly ca?: readonly string[];
  /** Outbound HTTPS; a test may swap it. */
  readonly transport?: Transport;
  /** The wall clock, for exp, nbf and iat. */
  readonly now?: () => number;
  /** For durations (the cache's lifetimes, the breaker): monotonic, so a wall-clock step stretches none. `now` when a test sets only that. */
  readonly monotonic?: () => number;
  /** For metrics: every lookup (cache hit or not) and every call's outcome. */
  readonly events?: IntrospectionEvents;
  /**
   * The same issuer's introspector under the previous config: when the issuer's settings are
   * unchanged, its cached answers (and discovered endpoint) carry over, so a reload does not send
   * every live token back to the AS at once.
   */
  readonly previous?: Introspector;
}

export interface IntrospectionEvents {
  onLookup?(issuer: string, cacheHit: boolean): void;
  onCall?(issuer: string, result: 'active' | 'refused' | 'error'): void;
}

/** What an active answer established, before any route check. */
interface Active {
  readonly active: true;
  readonly claims: TokenClaims;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
}

/** An answer that refuses the token (401), kept at most negative_cache_s. */
interface Refused {
  readonly active: false;
  readonly error: GatewayError;
}

type Answer = Active | Refused;
type Json = Record<string, unknown>;

const unavailable = (detail: string, cause?: unknown): GatewayError =>
  new GatewayError('GW_INTROSPECTION_UNAVAILABLE', detail.slice(0, 300), { retryAfterS: RETRY_AFTER_S, cause });

/**
 * INT-2, INT-8: a definite 4xx about this one request (some ASes answer 400 invalid_request for a junk
 * token). Still a 503, but the AS is up: not counted by the breaker, or anyone could open it for everyone.
 */
class AsRefusedRequest extends GatewayError {}

/**
 * INT-8: the one timeout_ms deadline of a lookup (discovery and call), and what is left of it. On the
 * monotonic clock: a wall-clock step (NTP) must not stretch or cut a call.
 */
const deadlineIn = (ms: number): number => performance.now() + ms;
const remainingMs = (deadline: number): number => Math.max(0, Math.floor(deadline - performance.now()));

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- the checks, in order ------------------------------------------------------------------

/** INT-2: only a 200 is an answer; anything else is the AS failing, never "inactive". */
/**
 * Some ASes (oidc-provider among them) answer 400 `unsupported_token_type` for a token they will not
 * introspect, e.g. a JWT access token. That is a definite answer about the token, not an outage: inactive.
 */
function refusesTokenType(res: OutboundResponse): boolean {
  if (res.status !== 400) return false;
  try {
    return (JSON.parse(res.body.toString('utf8')) as { error?: unknown }).error === 'unsupported_token_type';
  } catch {
    return false;
  }
}

/** INT-1: a 404 or 5xx says the endpoint itself is gone or down, not anything about the token. */
const endpointFailed = (status: number): boolean => status === 404 || status >= 500;

/**
 * INT-2: only a 200 is an answer. INT-8: a 400 is about this request (its token) only; anything else,
 * 401/403 included (the AS refusing the gateway's own credentials fails every call), is an outage.
 */
function checkHttpStatus(res: OutboundResponse): void {
  if (res.status === 200) return;
  const detail = `INT-2 introspection answered HTTP ${res.status}`;
  throw res.status === 400 ? new AsRefusedRequest('GW_INTROSPECTION_UNAVAILABLE', detail, { retryAfterS: RETRY_AFTER_S }) : unavailable(detail);
}

/** INT-7: a signed answer must say so; a plain JSON answer is refused when signing is required. */
function checkContentType(res: OutboundResponse, signed: boolean): void {
  const type = res.contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (signed && type !== JWT_RESPONSE_TYPE) throw unavailable(`INT-7 expected ${JWT_RESPONSE_TYPE}, got ${type.slice(0, 60) || 'none'}`);
}

/** INT-2: the body is a JSON object. */
function parseJsonObject(body: Buffer): Json {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw unavailable('INT-2 introspection answer is not JSON');
  }
  if (!isObject(v)) throw unavailable('INT-2 introspection answer is not a JSON object');
  return v;
}

/**
 * INT-7 (RFC 9701 §5, FAPI2-MS §5.5.2): typ token-introspection+jwt, signed by the issuer's keys with an
 * allowed alg, iss = the issuer, aud = the gateway's client_id, iat present, unknown crit refused; the
 * token_introspection claim is an object. Any failure is a 503: the AS said something we cannot trust.
 */
async function verifySignedAnswer(jwt: string, issuer: IntrospectionIssuer, clientId: string, nowS: number): Promise<Json> {
  const cfg = issuer.config;
  let payload: JWTPayload;
  try {
    // jose understands `b64` by itself: no extension is, here (RFC 7515 §4.1.11).
    if (decodeProtectedHeader(jwt).crit !== undefined) throw unavailable('INT-7 signed introspection answer names crit header parameters');
    ({ payload } = await verifyJwtWithKeys(jwt, issuer.keys.getKey, {
      typ: 'token-introspection+jwt',
      algorithms: [...cfg.algorithms],
      issuer: cfg.issuer,
      audience: clientId,
      requiredClaims: ['iat'],
      clockTolerance: cfg.clock_leeway_s,
      currentDate: new Date(nowS * 1000),
    }));
  } catch (e) {
    if (isGatewayError(e)) throw e;
    const err = e as Error & { code?: string };
    throw unavailable(`INT-7 signed introspection answer refused: ${err.code ?? err.name}: ${err.message}`, e);
  }
  const inner = payload.token_introspection;
  if (!isObject(inner)) throw unavailable('INT-7 token_introspection claim is not a JSON object');
  return inner;
}

/** INT-2: an answer has a boolean `active`; without one the AS said nothing we can use. */
function checkActiveIsBoolean(r: Json): Json {
  if (typeof r.active !== 'boolean') throw unavailable('INT-2 active is missing or not a boolean');
  return r;
}

/** INT-2, TOK-3: `active: false` refuses the token (unknown, expired, revoked: the AS does not say which). */
function checkActive(r: Json): void {
  if (r.active !== true) throw new GatewayError('GW_TOKEN_INACTIVE', 'INT-2 the AS says the token is not active');
}

/**
 * INT-2, INT-3: an active answer's members, when present, have their RFC 7662 §2.2 types. A wrong type
 * is the AS misbehaving, like `active: "true"`: 503, not a verdict on the token.
 */
function checkMemberTypes(r: Json): Json {
  if (r.active !== true) return r;
  for (const m of ['exp', 'nbf', 'iat', 'auth_time'] as const) {
    if (r[m] !== undefined && (typeof r[m] !== 'number' || !Number.isFinite(r[m]))) throw unavailable(`INT-3 ${m} is not a number`);
  }
  for (const m of ['iss', 'sub', 'client_id', 'scope', 'token_type', 'acr'] as const) {
    if (r[m] !== undefined && typeof r[m] !== 'string') throw unavailable(`INT-3 ${m} is not a string`);
  }
  const aud = r.aud;
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw unavailable('INT-3 aud is not a string or an array of strings');
  }
  // Dropped as "none" they would reach the upstream as no restriction or no authentication method.
  const details = r.authorization_details;
  if (details !== undefined && !(Array.isArray(details) && details.every(isObject))) throw unavailable('INT-3 authorization_details is not an array of objects');
  if (r.amr !== undefined && !(Array.isArray(r.amr) && r.amr.every((a) => typeof a === 'string'))) throw unavailable('INT-3 amr is not an array of strings');
  // RFC 7800: an object; a malformed thumbprint in it is the token's problem (401), a wrong type the AS's.
  const cnf = r.cnf;
  if (cnf !== undefined && !(isObject(cnf) && ['jkt', 'x5t#S256'].every((m) => cnf[m] === undefined || typeof cnf[m] === 'string'))) {
    throw unavailable('INT-3 cnf is not an object of string thumbprints');
  }
  return r;
}

/** INT-3: present but naming no one is not "absent" (require_audience: false lets only absent through). */
function checkAudienceNotEmpty(aud: unknown): void {
  if (Array.isArray(aud) && aud.length === 0) throw new GatewayError('GW_TOKEN_AUDIENCE', 'INT-3 aud is an empty array');
}

/** INT-3, JWT-8: not expired, with the issuer's leeway. */
function checkExpiry(exp: number | undefined, leeway: number, nowS: number): void {
  if (exp !== undefined && nowS >= exp + leeway) throw new GatewayError('GW_TOKEN_EXPIRED', 'INT-3 exp passed');
}

/** INT-3, JWT-9: not before `nbf`, with the issuer's leeway. */
function checkNotBefore(nbf: number | undefined, leeway: number, nowS: number): void {
  if (nbf !== undefined && nbf > nowS + leeway) throw new GatewayError('GW_TOKEN_EXPIRED', 'INT-3 nbf in the future');
}

/** INT-3, JWT-6: `iss`, when present, is exactly the configured issuer. */
function checkIssuer(iss: unknown, cfg: IssuerConfig): void {
  if (iss !== undefined && iss !== cfg.issuer) throw new GatewayError('GW_TOKEN_ISSUER', 'INT-3 iss is not the configured issuer');
}

/** INT-3..INT-5: the claims the rest of the pipeline reads; `cnf` per TOK-2, `token_type` kept for DPOP-20. */
function claimsOf(r: Json, issuer: IntrospectionIssuer, tokenHash: string, nowS: number): TokenClaims {
  const cnf = parseConfirmation(r.cnf);
  const aud = r.aud === undefined ? [] : typeof r.aud === 'string' ? [r.aud] : (r.aud as string[]);
  const scope = r.scope as string | undefined;
  const i = issuer.config.introspection as IntrospectionConfig;
  return Object.freeze({
    issuerName: issuer.name,
    issuer: issuer.config.issuer,
    subject: r.sub as string | undefined,
    clientId: r.client_id as string | undefined,
    scopes: Object.freeze(scope === undefined ? [] : scope.split(' ').filter((s) => s !== '')),
    audience: Object.freeze([...aud]),
    // RFC 7662 makes exp optional; without it the answer is trusted only as long as it is cached.
    expiresAt: (r.exp as number | undefined) ?? nowS + i.cache_max_s,
    cnf,
    tokenType: r.token_type as string | undefined,
    acr: r.acr as string | undefined,
    authTime: r.auth_time as number | undefined,
    amr: amrOf(r.amr),
    ...detailsOf(r.authorization_details),
    tokenHash,
  });
}

// ---- the introspector ----------------------------------------------------------------------

/**
 * The issuer settings an introspection answer depends on: all of them but the credential material
 * (key, certificate and secret files rotate; the client and its auth method stay).
 */
function settingsOf(cfg: IssuerConfig): unknown {
  const i = cfg.introspection;
  if (i === undefined) return cfg;
  const rest: Partial<typeof i> = { ...i };
  delete rest.private_key_file;
  delete rest.private_key_alg;
  delete rest.cert_file;
  delete rest.key_file;
  delete rest.client_secret_env;
  // How many calls may be under way changes how often the AS is asked, not what it says.
  delete rest.max_in_flight;
  return { ...cfg, introspection: rest };
}

export class Introspector {
  readonly name: string;
  private readonly cfg: IssuerConfig;
  private readonly icfg: IntrospectionConfig;
  private readonly cache: IntrospectionCache<Answer>;
  private readonly transport: Transport;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private endpoint: string | undefined;
  private discovering: Promise<string> | undefined;
  private failures = 0;
  private openUntil = 0;
  /** Half-open: the one call under way that decides whether the breaker closes. */
  private probing = false;
  /** Calls (discovery included) under way, bounded by max_in_flight (INT-8). */
  private inFlight = 0;

  private readonly opts: IntrospectorOptions;

  constructor(
    private readonly issuer: IntrospectionIssuer,
    opts: IntrospectorOptions,
  ) {
    // Not the previous introspector: held, it would keep every earlier config alive, reload after reload.
    this.opts = { ...opts, previous: undefined };
    if (issuer.config.introspection === undefined) throw new Error(`issuer ${issuer.name} has no introspection settings`);
    this.name = issuer.name;
    this.cfg = issuer.config;
    this.icfg = issuer.config.introspection;
    this.transport = opts.transport ?? httpsRequest;
    this.now = opts.now ?? Date.now;
    this.monotonic = opts.monotonic ?? opts.now ?? (() => performance.now());
    const prev = opts.previous;
    // Rotated credentials do not change what the AS says about a token.
    const same = prev !== undefined && prev.name === this.name && JSON.stringify(settingsOf(prev.cfg)) === JSON.stringify(settingsOf(this.cfg));
    this.endpoint = this.icfg.endpoint ?? (same ? prev.endpoint : undefined);
    this.cache = same ? prev.cache : new IntrospectionCache<Answer>(this.icfg.cache_max_entries, this.monotonic, (a) => !a.active);
  }

  /**
   * The issuer-level result for a token: GW_TOKEN_INACTIVE and other 401s for a refused token,
   * GW_INTROSPECTION_UNAVAILABLE (503) when the AS gave no usable answer. Time is re-checked on
   * every use of a cached answer.
   */
  async introspect(token: string, tokenHash: string): Promise<TokenClaims> {
    let called = false;
    const answer = await this.cache.getOrLoad(tokenHash, () => {
      called = true;
      return this.load(token, tokenHash);
    });
    this.opts.events?.onLookup?.(this.name, !called);
    if (!answer.active) throw answer.error;
    const nowS = Math.floor(this.now() / 1000);
    checkExpiry(answer.exp, this.cfg.clock_leeway_s, nowS);
    checkNotBefore(answer.nbf, this.cfg.clock_leeway_s, nowS);
    return answer.claims;
  }

  /** One introspection call and its checks; the cache stores the result for the TTL returned (INT-6). */
  private async load(token: string, tokenHash: string): Promise<CacheLoad<Answer>> {
    const nowS = Math.floor(this.now() / 1000);
    // In-flight first: a refusal here must not leave the breaker thinking a probe is under way.
    this.checkInFlight();
    this.checkBreaker(this.monotonic());
    let r: Json;
    this.inFlight++;
    try {
      // INT-8: one deadline for the whole lookup, discovery included.
      r = await this.fetchAnswer(token, nowS, deadlineIn(this.icfg.timeout_ms));
    } catch (e) {
      // Not an answer: shared by the waiting requests, never cached (INT-6), an outage counted by the breaker (INT-8).
      if (e instanceof AsRefusedRequest) this.recordAnswer();
      else this.recordFailure(this.monotonic());
      this.opts.events?.onCall?.(this.name, 'error');
      throw isGatewayError(e) ? e : unavailable(`INT-8 introspection failed: ${(e as Error).message}`, e);
    } finally {
      this.inFlight--;
    }
    this.recordAnswer();
    // Judged, and its cache life counted, from when it arrived: a slow AS must not stretch it past exp.
    const answeredMs = this.now();
    const answeredS = Math.floor(answeredMs / 1000);
    try {
      checkActive(r);
      checkAudienceNotEmpty(r.aud);
      const exp = r.exp as number | undefined;
      const nbf = r.nbf as number | undefined;
      checkExpiry(exp, this.cfg.clock_leeway_s, answeredS);
      checkNotBefore(nbf, this.cfg.clock_leeway_s, answeredS);
      checkIssuer(r.iss, this.cfg);
      const claims = claimsOf(r, this.issuer, tokenHash, answeredS);
      // Never cached past exp (INT-6, Q-12).
      const ttlMs = Math.min(this.icfg.cache_max_s * 1000, exp === undefined ? Infinity : exp * 1000 - answeredMs);
      this.opts.events?.onCall?.(this.name, 'active');
      return { value: { active: true, claims, exp, nbf }, ttlMs };
    } catch (e) {
      if (!isGatewayError(e)) throw e;
      this.opts.events?.onCall?.(this.name, 'refused');
      // A refusal from a valid answer: cached briefly (INT-6).
      return { value: { active: false, error: e }, ttlMs: this.icfg.negative_cache_s * 1000 };
    }
  }

  /** INT-1: POST token + token_type_hint, client authentication, bounded by the deadline (INT-8). */
  private async fetchAnswer(token: string, nowS: number, deadline: number): Promise<Json> {
    const endpoint = await this.resolveEndpoint(deadline);
    const signed = this.icfg.signed_response;
    const creds = await this.opts.auth.credentials(nowS);
    const body = new URLSearchParams({ token, token_type_hint: 'access_token', ...creds.form }).toString();
    const tls = this.opts.auth.tls;
    const timeoutMs = remainingMs(deadline);
    if (timeoutMs <= 0) throw unavailable(`INT-8 timeout_ms ${this.icfg.timeout_ms} spent before the introspection call`);
    let res: OutboundResponse;
    try {
      res = await this.transport(endpoint, {
        method: 'POST',
        ca: this.opts.ca ?? [],
        timeoutMs,
        maxBytes: MAX_RESPONSE_BYTES,
        ...(tls !== undefined && { cert: tls.cert, key: tls.key }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: signed ? JWT_RESPONSE_TYPE : 'application/json',
          ...creds.headers,
        },
        body,
      });
    } catch (e) {
      this.forgetEndpoint(endpoint);
      throw unavailable(`INT-8 introspection at ${new URL(endpoint).origin} failed: ${(e as Error).message}`, e);
    }
    if (refusesTokenType(res)) return { active: false };
    if (endpointFailed(res.status)) this.forgetEndpoint(endpoint);
    checkHttpStatus(res);
    checkContentType(res, signed);
    const r = signed ? await this.withinDeadline(verifySignedAnswer(res.body.toString('utf8').trim(), this.issuer, this.icfg.client_id, nowS), deadline) : parseJsonObject(res.body);
    return checkMemberTypes(checkActiveIsBoolean(r));
  }

  /** INT-8: the signature check may fetch the issuer's keys (a rotation): within what is left of timeout_ms. */
  private async withinDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`INT-8 timeout_ms ${this.icfg.timeout_ms} spent before the signed answer could be checked (issuer keys)`)), remainingMs(deadline));
    });
    // The key fetch goes on and fills the cache for the next lookup; its own failure is handled there.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** INT-8: a bulkhead, so a hanging AS holds at most max_in_flight calls; the excess fails closed at once. */
  private checkInFlight(): void {
    if (this.inFlight >= this.icfg.max_in_flight) {
      throw unavailable(`INT-8 ${this.inFlight} introspection calls to ${this.cfg.issuer} already under way (max_in_flight)`);
    }
  }

  /** INT-8: fail fast while the AS keeps failing, so requests do not pile up behind timeouts. */
  private checkBreaker(nowMs: number): void {
    if (nowMs < this.openUntil || (this.probing && this.failures >= BREAKER_THRESHOLD)) {
      throw new GatewayError('GW_INTROSPECTION_UNAVAILABLE', `INT-8 introspection at ${this.cfg.issuer} failing, circuit open`, {
        retryAfterS: Math.max(1, Math.ceil((this.openUntil - nowMs) / 1000)),
      });
    }
    if (this.failures >= BREAKER_THRESHOLD) this.probing = true;
  }

  private recordFailure(nowMs: number): void {
    this.probing = false;
    if (++this.failures >= BREAKER_THRESHOLD) this.openUntil = nowMs + BREAKER_OPEN_MS;
  }

  /** The AS answered (even a 4xx about one request): it is up, the breaker closes. */
  private recordAnswer(): void {
    this.failures = 0;
    this.probing = false;
  }

  /**
   * INT-1: a discovered endpoint that fails is looked up again on the next attempt, so a corrected
   * or moved endpoint is found without a restart; the breaker paces those attempts (INT-8).
   */
  private forgetEndpoint(used: string): void {
    if (this.icfg.endpoint === undefined && this.endpoint === used) this.endpoint = undefined;
  }

  /** INT-1: the configured endpoint, or the one in the metadata (the mTLS alias for tls_client_auth). */
  private resolveEndpoint(deadline: number): Promise<string> {
    if (this.endpoint !== undefined) return Promise.resolve(this.endpoint);
    // Joiners started later, so their own deadlines are no earlier than this one.
    this.discovering ??= this.discover(deadline)
      .then((url) => (this.endpoint = url))
      .finally(() => (this.discovering = undefined));
    return this.discovering;
  }

  /** RFC 8414 §3 (well-known inserted before the issuer path), then OIDC Discovery; metadata issuer must match. */
  private async discover(deadline: number): Promise<string> {
    const candidates = metadataUrls(this.cfg.issuer);
    const problems: string[] = [];
    for (const url of candidates) {
      const timeoutMs = remainingMs(deadline);
      if (timeoutMs <= 0) {
        problems.push(`${new URL(url).pathname}: not tried, timeout_ms ${this.icfg.timeout_ms} spent`);
        continue;
      }
      try {
        const res = await this.transport(url, { ca: this.opts.ca ?? [], timeoutMs });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        const meta = JSON.parse(res.body.toString('utf8')) as Json;
        if (meta.issuer !== this.cfg.issuer) throw new Error(`metadata issuer ${String(meta.issuer).slice(0, 100)} does not match`);
        const aliases = isObject(meta.mtls_endpoint_aliases) ? meta.mtls_endpoint_aliases : {};
        const found =
          (this.opts.auth.method === 'tls_client_auth' ? aliases.introspection_endpoint : undefined) ?? meta.introspection_endpoint;
        if (typeof found !== 'string' || !found.startsWith('https://')) throw new Error('metadata has no https introspection_endpoint');
        return found;
      } catch (e) {
        problems.push(`${new URL(url).pathname}: ${(e as Error).message}`);
      }
    }
    throw unavailable(`INT-1 introspection endpoint discovery for ${this.cfg.issuer} failed: ${problems.join('; ')}`);
  }
}
