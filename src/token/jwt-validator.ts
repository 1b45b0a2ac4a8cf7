// RFC 9068 JWT access tokens (TOK-*, JWT-*). Checks run in the spec's order; a verified token is
// cached by SHA-256 until `exp`, and time and route checks are repeated on every request.
import { hash, KeyObject } from 'node:crypto';
import { errors as joseErrors, type JWTPayload } from 'jose';
import type { IssuerConfig } from '../config/schema.js';
import type { ErrorCode } from '../errors/catalog.js';
import { GatewayError, isGatewayError } from '../errors/gateway-error.js';
import type { Confirmation, Route, TokenClaims } from '../types.js';
import { keyMaterial, type IssuerKeys } from './issuer-keys.js';
import { verifyJwtWithKeys } from './verify-jws.js';

export interface TokenValidator {
  /** `tokenHash`: the token's hex SHA-256 when the caller has it (Credentials.tokenSha256). */
  validate(token: string, route: Route, tokenHash?: string): Promise<TokenClaims>;
  /**
   * The claims of a token already validated and still acceptable on this route, without a promise;
   * undefined means "call validate", which gives the full answer (refusals included).
   */
  cached?(token: string, route: Route, tokenHash?: string): TokenClaims | undefined;
}

export interface JwtIssuer {
  readonly name: string;
  readonly config: IssuerConfig;
  /** generation/holds/freshen: without them, cached tokens are not re-checked against the JWKS. */
  readonly keys: Pick<IssuerKeys, 'getKey'> & Partial<Pick<IssuerKeys, 'generation' | 'holds' | 'freshen' | 'refetchAllowed'>>;
}

const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

// One-shot crypto.hash: about half the cost of createHash().update().digest() for a token.
export const sha256Hex = (s: string): string => hash('sha256', s, 'hex');

function decodeSegment(segment: string): Record<string, unknown> {
  const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as Record<string, unknown>;
}

// ---- the checks, in order ------------------------------------------------------------------

/** JWT-11, TOK-9: a JWS compact serialisation; JWE and anything else are refused. */
function checkCompactJws(token: string): [Record<string, unknown>, Record<string, unknown>] {
  const parts = token.split('.');
  if (parts.length === 5) throw new GatewayError('GW_TOKEN_MALFORMED', 'JWT-11 encrypted (JWE) access token');
  if (parts.length !== 3) throw new GatewayError('GW_TOKEN_MALFORMED', 'TOK-9 access token is not a JWS');
  try {
    return [decodeSegment(parts[0] as string), decodeSegment(parts[1] as string)];
  } catch {
    throw new GatewayError('GW_TOKEN_MALFORMED', 'TOK-9 JWS header or payload is not JSON');
  }
}

/**
 * JWT-1, Q-10: `typ` is at+jwt (media-type compare), or an explicit per-issuer extra; absent only where
 * the issuer is known to leave it out (allow_missing_token_type), never a non-string.
 */
function checkType(header: Record<string, unknown>, issuer: IssuerConfig): void {
  if (header.typ === undefined) {
    if (issuer.allow_missing_token_type) return;
    throw new GatewayError('GW_TOKEN_INVALID', 'JWT-1 typ missing');
  }
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (typ === 'at+jwt') return;
  const extras = issuer.extra_token_types.map((t) => t.toLowerCase().replace(/^application\//, ''));
  if (typ !== undefined && extras.includes(typ)) return;
  throw new GatewayError('GW_TOKEN_INVALID', `JWT-1 typ ${typ === undefined ? 'not a string' : 'not at+jwt'}`);
}

/**
 * JWT-12: no unencoded payload. jose honours `b64` only when `crit` lists it (and then refuses it), so a
 * `b64` member outside `crit` would pass unread; RFC 7797 §7 rules it out for JWTs either way.
 */
function checkEncodedPayload(header: Record<string, unknown>): void {
  if (header.b64 !== undefined && header.b64 !== true) throw new GatewayError('GW_TOKEN_INVALID', 'JWT-12 b64 header member (unencoded payload)');
}

/** JWT-2: the allow-list comes from config, never from the token. */
function checkAlgorithm(header: Record<string, unknown>, issuer: IssuerConfig): void {
  if (typeof header.alg !== 'string' || !(issuer.algorithms as readonly string[]).includes(header.alg)) {
    throw new GatewayError('GW_TOKEN_INVALID', `JWT-2 alg ${typeof header.alg === 'string' ? header.alg.slice(0, 16) : 'missing'} not allowed`);
  }
}

/** JWT-10: required claims with their types. */
function checkClaimTypes(p: JWTPayload): void {
  for (const c of ['sub', 'client_id', 'jti'] as const) {
    if (typeof p[c] !== 'string' || p[c] === '') throw new GatewayError('GW_TOKEN_INVALID', `JWT-10 ${c} missing or not a string`);
  }
  if (p.scope !== undefined && typeof p.scope !== 'string') throw new GatewayError('GW_TOKEN_INVALID', 'JWT-14 scope is not a string');
  // jose checks these are numbers; 1e400 parses as Infinity, which would make a token that never expires.
  for (const c of ['exp', 'iat', 'nbf'] as const) {
    if (p[c] !== undefined && !Number.isFinite(p[c])) throw new GatewayError('GW_TOKEN_INVALID', `JWT-8 ${c} is not a finite number`);
  }
}

/**
 * JWT-7, JWT-10: `aud` is a string or an array of strings. jose checks its type only when given an
 * `audience` option, and the route's audience is compared later (checkAudience, cached tokens too).
 */
function audienceOf(p: JWTPayload): readonly string[] {
  const aud: unknown = p.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud as string[];
  throw new GatewayError('GW_TOKEN_AUDIENCE', 'JWT-7 aud is not a string or an array of strings');
}

/** JWT-9: `iat` at most the leeway in the future. Q-3: `exp - iat` bounded by max_token_age_s. */
function checkIssuedAt(p: JWTPayload, issuer: IssuerConfig, nowS: number): void {
  const iat = p.iat as number;
  if (iat > nowS + issuer.clock_leeway_s) throw new GatewayError('GW_TOKEN_EXPIRED', 'JWT-9 iat in the future');
  if (issuer.max_token_age_s !== undefined && (p.exp as number) - iat > issuer.max_token_age_s) {
    throw new GatewayError('GW_TOKEN_EXPIRED', `Q-3 token lifetime over max_token_age_s ${issuer.max_token_age_s}`);
  }
}

/**
 * JWT-14: `amr` is an array of method names (RFC 8176: tokens, no spaces); anything else is not read,
 * since upstream it is one space-separated header (`["pwd mfa"]` must not read as two methods).
 */
export function amrOf(v: unknown): readonly string[] | undefined {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && /^[\x21-\x7E]+$/.test(x)) ? Object.freeze([...(v as string[])]) : undefined;
}

/** Deeper than this, `authorization_details` is refused: JSON.stringify overflows V8's stack near 4,500. */
const MAX_DETAILS_DEPTH = 32;

/**
 * TOK-7, Q-9: RFC 9396 `authorization_details` is an array; anything else is refused (read as none, it
 * would reach the upstream as no restriction). The upstream header is encoded once here, with the
 * token, not per request; an empty array is sent as `W10` (`[]`), never left out.
 */
export function detailsOf(v: unknown): Pick<TokenClaims, 'authorizationDetails' | 'authorizationDetailsHeader'> {
  if (v === undefined) return { authorizationDetails: undefined, authorizationDetailsHeader: undefined };
  if (!Array.isArray(v)) throw new GatewayError('GW_TOKEN_INVALID', 'TOK-7 authorization_details is not an array');
  if (!shallowerThan(v, MAX_DETAILS_DEPTH)) {
    throw new GatewayError('GW_TOKEN_INVALID', `TOK-7 authorization_details nested deeper than ${MAX_DETAILS_DEPTH} levels`);
  }
  const details = Object.freeze([...(v as unknown[])]);
  return {
    authorizationDetails: details,
    authorizationDetailsHeader: Buffer.from(JSON.stringify(details)).toString('base64url'),
  };
}

/** Iterative, so a hostile depth cannot overflow the stack here either. */
function shallowerThan(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return false;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return true;
}

/** TOK-2: at most one confirmation method, as a JSON object with a string member. */
export function parseConfirmation(cnf: unknown): Confirmation {
  if (cnf === undefined) return { kind: 'none' };
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    throw new GatewayError('GW_TOKEN_CNF_INVALID', 'TOK-2 cnf is not a JSON object');
  }
  const c = cnf as Record<string, unknown>;
  const x5t = c['x5t#S256'];
  const jkt = c.jkt;
  if (x5t !== undefined && jkt !== undefined) throw new GatewayError('GW_TOKEN_CNF_INVALID', 'TOK-2 cnf has both jkt and x5t#S256');
  const thumb = /^[A-Za-z0-9_-]{43}$/;
  if (x5t !== undefined) {
    if (typeof x5t !== 'string' || !thumb.test(x5t)) throw new GatewayError('GW_TOKEN_CNF_INVALID', 'TOK-2 cnf x5t#S256 malformed');
    return { kind: 'x5t', thumbprint: x5t };
  }
  if (jkt !== undefined) {
    if (typeof jkt !== 'string' || !thumb.test(jkt)) throw new GatewayError('GW_TOKEN_CNF_INVALID', 'TOK-2 cnf jkt malformed');
    return { kind: 'jkt', thumbprint: jkt };
  }
  throw new GatewayError('GW_TOKEN_CNF_INVALID', 'TOK-2 cnf has no supported confirmation method');
}

/** JWT-13: every jose failure is invalid_token; only a key source outage is a 503. */
function fromJose(e: unknown): GatewayError {
  if (isGatewayError(e)) return e;
  const err = e as Error & { code?: string; claim?: string };
  let code: ErrorCode = 'GW_TOKEN_INVALID';
  if (e instanceof joseErrors.JWTExpired) code = 'GW_TOKEN_EXPIRED';
  else if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') code = 'GW_TOKEN_EXPIRED';
    else if (err.claim === 'iss') code = 'GW_TOKEN_ISSUER';
  }
  return new GatewayError(code, `JWT ${err.code ?? err.name}: ${err.message}`.slice(0, 200), { cause: e });
}

// ---- the validator -------------------------------------------------------------------------

interface Verified {
  readonly claims: TokenClaims;
  readonly notBefore: number | undefined;
  readonly leeway: number;
  readonly keys: JwtIssuer['keys'];
  /** The verifying key's identity (keyMaterial), and the JWKS generation it was last seen in. */
  readonly material: string | undefined;
  generation: number | undefined;
}

/** The public key jose verified with, as keyMaterial. */
function materialOf(key: unknown): string | undefined {
  try {
    const k = key instanceof KeyObject ? key : KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
    return k.type === 'public' ? keyMaterial(k.export({ format: 'jwk' })) : undefined;
  } catch {
    return undefined;
  }
}

/** The same issuers, with the same settings and the same key caches: what was verified under one holds under the other. */
function sameIssuers(a: ReadonlyMap<string, JwtIssuer>, b: ReadonlyMap<string, JwtIssuer>): boolean {
  if (a.size !== b.size) return false;
  for (const [iss, x] of a) {
    const y = b.get(iss);
    if (y === undefined || y.name !== x.name || y.keys !== x.keys || JSON.stringify(y.config) !== JSON.stringify(x.config)) return false;
  }
  return true;
}

export class JwtValidator implements TokenValidator {
  private readonly byIssuer: ReadonlyMap<string, JwtIssuer>;
  private readonly cache: Map<string, Verified>;

  /**
   * `previous`: the validator of the config being replaced. Its verified tokens carry over when the
   * JWT issuers are unchanged, so a reload does not re-verify every live token at once.
   */
  constructor(
    issuers: readonly JwtIssuer[],
    private readonly maxCached = 10_000,
    private readonly now: () => number = Date.now,
    previous?: JwtValidator,
  ) {
    this.byIssuer = new Map(issuers.map((i) => [i.config.issuer, i]));
    this.cache = previous !== undefined && sameIssuers(previous.byIssuer, this.byIssuer) ? previous.cache : new Map();
  }

  cached(token: string, route: Route, tokenHash: string = sha256Hex(token)): TokenClaims | undefined {
    const v = this.cache.get(tokenHash);
    if (v === undefined) return undefined;
    const nowS = Math.floor(this.now() / 1000);
    if (nowS >= v.claims.expiresAt + v.leeway || (v.notBefore !== undefined && v.notBefore > nowS + v.leeway)) return undefined;
    // Keys past jwks_refresh_s wait for their refresh: validate() does the waiting.
    if (v.keys.freshen?.() !== undefined || !keyStillPublished(v)) return undefined;
    try {
      checkRouteIssuer(v.claims, route);
      checkAudience(v.claims, route);
    } catch {
      return undefined;
    }
    return v.claims;
  }

  async validate(token: string, route: Route, tokenHash: string = sha256Hex(token)): Promise<TokenClaims> {
    const nowS = Math.floor(this.now() / 1000);
    let v = this.cache.get(tokenHash);
    const fetch = v?.keys.freshen?.();
    if (fetch !== undefined) await fetch;
    if (v !== undefined && !keyStillPublished(v)) {
      // The key that verified it left the JWKS: verify again (and fail, unless it came back).
      this.cache.delete(tokenHash);
      v = undefined;
    }
    if (v === undefined) {
      v = await this.verify(token, tokenHash, route, nowS);
      if (this.cache.size >= this.maxCached) this.evict(nowS);
      this.cache.set(tokenHash, v);
    }
    // Time is re-checked on every use of a cached result (JWT-8, JWT-9).
    if (nowS >= v.claims.expiresAt + v.leeway) {
      this.cache.delete(tokenHash);
      throw new GatewayError('GW_TOKEN_EXPIRED', 'JWT-8 exp passed');
    }
    if (v.notBefore !== undefined && v.notBefore > nowS + v.leeway) throw new GatewayError('GW_TOKEN_EXPIRED', 'JWT-9 nbf in the future');
    checkRouteIssuer(v.claims, route);
    checkAudience(v.claims, route);
    return v.claims;
  }

  private async verify(token: string, tokenHash: string, route: Route, nowS: number): Promise<Verified> {
    const [header, payload] = checkCompactJws(token);
    const issuer = typeof payload.iss === 'string' ? this.byIssuer.get(payload.iss) : undefined;
    // TOK-4 before any crypto: a token from an issuer this route does not trust is refused outright.
    if (issuer === undefined || !route.issuers.includes(issuer.name)) {
      throw new GatewayError('GW_TOKEN_ISSUER', 'TOK-4 issuer not accepted on this route');
    }
    const cfg = issuer.config;
    checkType(header, cfg);
    checkEncodedPayload(header);
    checkAlgorithm(header, cfg);
    // Read before the fetch a verification may trigger: a newer generation is then checked on first use.
    const generation = issuer.keys.generation;
    let p: JWTPayload;
    let key: unknown;
    const options = {
      issuer: cfg.issuer,
      algorithms: [...cfg.algorithms],
      clockTolerance: cfg.clock_leeway_s,
      requiredClaims: REQUIRED_CLAIMS,
      currentDate: new Date(nowS * 1000),
    };
    try {
      ({ payload: p, key } = await verifyJwtWithKeys(token, issuer.keys.getKey, options).catch(async (e: unknown) => {
        // JWT-4 for a token without kid: it matches the keys of its type, so a key the AS has just
        // rotated in shows as a bad signature, not an unknown kid. One refetch per cooldown, as for those.
        if (header.kid !== undefined || !(e instanceof joseErrors.JWSSignatureVerificationFailed) || (await issuer.keys.refetchAllowed?.()) !== true) throw e;
        return verifyJwtWithKeys(token, issuer.keys.getKey, options);
      }));
    } catch (e) {
      throw fromJose(e);
    }
    checkClaimTypes(p);
    const aud = audienceOf(p);
    checkIssuedAt(p, cfg, nowS);
    const cnf = parseConfirmation(p.cnf);
    return {
      leeway: cfg.clock_leeway_s,
      notBefore: p.nbf,
      keys: issuer.keys,
      material: materialOf(key),
      generation,
      claims: Object.freeze({
        issuerName: issuer.name,
        issuer: cfg.issuer,
        subject: p.sub,
        clientId: p.client_id as string,
        scopes: Object.freeze(typeof p.scope === 'string' ? p.scope.split(' ').filter((s) => s !== '') : []),
        audience: Object.freeze([...aud]),
        expiresAt: p.exp as number,
        cnf,
        acr: typeof p.acr === 'string' ? p.acr : undefined,
        // 1e400 parses as Infinity: "authenticated just now" forever. Not read, like any other bad type.
        authTime: typeof p.auth_time === 'number' && Number.isFinite(p.auth_time) ? p.auth_time : undefined,
        amr: amrOf(p.amr),
        ...detailsOf(p.authorization_details),
        tokenHash,
      }),
    };
  }

  /** Drop expired entries; if none expired, drop the oldest tenth (insertion order). */
  private evict(nowS: number): void {
    for (const [k, v] of this.cache) if (v.claims.expiresAt + v.leeway <= nowS) this.cache.delete(k);
    if (this.cache.size < this.maxCached) return;
    let n = Math.ceil(this.maxCached / 10);
    for (const k of this.cache.keys()) {
      if (n-- <= 0) break;
      this.cache.delete(k);
    }
  }
}

/**
 * JWT-3 on cached results: the key that verified the token is still in the issuer's JWKS. Checked once
 * per JWKS generation, after freshen (cached tokens never ask for a key, so the refresh starts there).
 */
function keyStillPublished(v: Verified): boolean {
  const keys = v.keys;
  if (keys.generation === undefined || keys.generation === v.generation) return true;
  if (v.material === undefined || keys.holds?.(v.material) !== true) return false;
  v.generation = keys.generation;
  return true;
}

/** TOK-4 on cached results too: a token cached for one route may be presented on another. */
export function checkRouteIssuer(c: TokenClaims, route: Route): void {
  if (!route.issuers.includes(c.issuerName)) throw new GatewayError('GW_TOKEN_ISSUER', 'TOK-4 issuer not accepted on this route');
}

/** TOK-5, JWT-7: `aud` contains this route's resource identifier. */
export function checkAudience(c: TokenClaims, route: Route): void {
  if (!c.audience.includes(route.audience)) throw new GatewayError('GW_TOKEN_AUDIENCE', 'TOK-5 aud does not contain the route audience');
}
