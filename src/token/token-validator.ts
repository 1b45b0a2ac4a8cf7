// TOK-9: the issuer's configuration, never the token's shape, decides how a token is validated.
// - A JWS whose `iss` names a `token_format: jwt` issuer: local JWT validation (which refuses it, TOK-4,
//   if that issuer is not the route's: it is never shown to another AS), then, with
//   `revocation: introspect`, an introspection of the same token.
// - Otherwise, when the route has `token_format: opaque` issuers: introspection at each in order
//   (usually one) until one AS says the token is active.
// - Otherwise: local JWT validation, which refuses what is not a JWT of a route issuer.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readCaFile, type LoadedConfig } from '../config/load.js';
import type { IssuerConfig } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors/gateway-error.js';
import type { Route, TokenClaims } from '../types.js';
import { clientSecretBasic, loadSigningKey, privateKeyJwt, tlsClientAuth, type ClientAuthentication } from './client-auth.js';
import { Introspector, type IntrospectionIssuer, type IntrospectorOptions } from './introspection.js';
import { checkAudience, checkRouteIssuer, JwtValidator, sha256Hex, type JwtIssuer, type TokenValidator } from './jwt-validator.js';

export interface ComposedIssuer {
  readonly name: string;
  readonly config: IssuerConfig;
  /** Present when the issuer has an `introspection` section. */
  readonly introspector?: Pick<Introspector, 'introspect'>;
}

export class CompositeTokenValidator implements TokenValidator {
  private readonly byName: ReadonlyMap<string, ComposedIssuer>;
  private readonly issuers: readonly ComposedIssuer[];
  private readonly perRoute = new WeakMap<Route, { onRoute: readonly ComposedIssuer[]; opaque: readonly ComposedIssuer[] }>();

  /** `jwt` validates the `token_format: jwt` issuers only. */
  constructor(
    issuers: readonly ComposedIssuer[],
    private readonly jwt: TokenValidator,
  ) {
    this.byName = new Map(issuers.map((i) => [i.name, i]));
    this.issuers = issuers;
  }

  async validate(token: string, route: Route, tokenHash: string = sha256Hex(token)): Promise<TokenClaims> {
    const { onRoute, opaque } = this.issuersOf(route);
    if (opaque.length === 0) return this.validateJwt(token, route, tokenHash);
    const iss = jwtIssuerNamed(token, this.issuers);
    // A JWT of a JWT issuer: judged locally, on its route; elsewhere too (refused, TOK-4), unless the
    // route introspects that same AS's tokens (one AS configured both ways): never shown to another AS.
    if (iss !== undefined && (onRoute.some((i) => i.config.issuer === iss && i.config.token_format === 'jwt') || !opaque.some((i) => i.config.issuer === iss))) {
      return this.validateJwt(token, route, tokenHash);
    }
    return this.introspect(token, tokenHash, opaque, route);
  }

  /** The local JWT validator, for handing its verified tokens to the next config's. */
  jwtValidator(): JwtValidator | undefined {
    return this.jwt instanceof JwtValidator ? this.jwt : undefined;
  }

  /** The issuer's introspector, for handing its cached answers to the next config's. */
  introspector(name: string): Introspector | undefined {
    const i = this.byName.get(name)?.introspector;
    return i instanceof Introspector ? i : undefined;
  }

  /** Locally validated JWTs only: opaque tokens and `revocation: introspect` always take validate(). */
  cached(token: string, route: Route, tokenHash?: string): TokenClaims | undefined {
    if (this.issuersOf(route).opaque.length > 0) return undefined;
    const claims = this.jwt.cached?.(token, route, tokenHash);
    if (claims === undefined || this.byName.get(claims.issuerName)?.config.revocation === 'introspect') return undefined;
    return claims;
  }

  /** The route's issuers, worked out once per route (routes live as long as their config). */
  private issuersOf(route: Route): { onRoute: readonly ComposedIssuer[]; opaque: readonly ComposedIssuer[] } {
    let r = this.perRoute.get(route);
    if (r === undefined) {
      const onRoute = route.issuers.map((n) => this.byName.get(n)).filter((i): i is ComposedIssuer => i !== undefined);
      r = { onRoute, opaque: onRoute.filter((i) => i.config.token_format === 'opaque') };
      this.perRoute.set(route, r);
    }
    return r;
  }

  /** Local validation (JWT-*), then Q-3 `revocation: introspect` with the INT-6 cache. */
  private async validateJwt(token: string, route: Route, tokenHash: string): Promise<TokenClaims> {
    const claims = await this.jwt.validate(token, route, tokenHash);
    const issuer = this.byName.get(claims.issuerName);
    if (issuer?.config.revocation === 'introspect') {
      if (issuer.introspector === undefined) throw new GatewayError('GW_INTERNAL', `issuer ${issuer.name} has no introspector`);
      await issuer.introspector.introspect(token, claims.tokenHash);
    }
    return claims;
  }

  /**
   * The route's opaque issuers in order. Only "inactive" moves on to the next AS (the token may be
   * another AS's); any other refusal comes from the AS that knows the token and is final. When no AS
   * says active and one could not answer, the answer is 503, never 401 (INT-2).
   */
  private async introspect(token: string, tokenHash: string, issuers: readonly ComposedIssuer[], route: Route): Promise<TokenClaims> {
    let inactive: GatewayError | undefined;
    let failed: GatewayError | undefined;
    for (const issuer of issuers) {
      let claims: TokenClaims;
      try {
        claims = await (issuer.introspector as NonNullable<ComposedIssuer['introspector']>).introspect(token, tokenHash);
      } catch (e) {
        if (!isGatewayError(e)) throw e;
        if (e.code === 'GW_TOKEN_INACTIVE') inactive ??= e;
        else if (e.code === 'GW_INTROSPECTION_UNAVAILABLE') failed ??= e;
        else throw e;
        continue;
      }
      checkRouteIssuer(claims, route);
      checkIntrospectedAudience(claims, route, issuer.config.introspection?.require_audience !== false);
      return claims;
    }
    throw failed ?? inactive ?? new GatewayError('GW_TOKEN_INACTIVE', 'INT-2 no issuer on this route knows the token');
  }
}

/** A JWS compact token whose payload `iss` is a `token_format: jwt` issuer of the route (TOK-9 fallback rule). */
/** The `iss` of a JWS, when it names one of the `token_format: jwt` issuers. */
function jwtIssuerNamed(token: string, issuers: readonly ComposedIssuer[]): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let iss: unknown;
  try {
    iss = (JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { iss?: unknown } | null)?.iss;
  } catch {
    return undefined;
  }
  return typeof iss === 'string' && issuers.some((i) => i.config.token_format === 'jwt' && i.config.issuer === iss) ? iss : undefined;
}

/**
 * TOK-5, INT-3: an introspection answer names the route's audience (checkAudience). An answer without
 * `aud` is refused unless the issuer says its AS never sends one (require_audience: false).
 */
function checkIntrospectedAudience(c: TokenClaims, route: Route, required: boolean): void {
  if (c.audience.length === 0) {
    if (required) throw new GatewayError('GW_TOKEN_AUDIENCE', 'INT-3 introspection answer has no aud');
    return;
  }
  checkAudience(c, route);
}

// ---- construction from config ------------------------------------------------------------------

/** The client authentication an issuer's introspection section describes; files relative to baseDir. */
export function clientAuthFor(name: string, cfg: IssuerConfig, loaded: Pick<LoadedConfig, 'baseDir' | 'secrets'>): ClientAuthentication {
  const i = cfg.introspection;
  if (i === undefined) throw new Error(`issuer ${name} has no introspection section`);
  const read = (file: string | undefined, what: string): string => {
    if (file === undefined) throw new Error(`issuers.${name}.introspection.${what} is required for auth: ${i.auth}`);
    try {
      return readFileSync(resolve(loaded.baseDir, file), 'utf8');
    } catch (e) {
      throw new Error(`issuers.${name}.introspection.${what}: ${(e as Error).message}`);
    }
  };
  switch (i.auth) {
    case 'private_key_jwt': {
      let key;
      try {
        key = loadSigningKey(read(i.private_key_file, 'private_key_file'), i.private_key_alg);
      } catch (e) {
        throw new Error(`issuers.${name}.introspection.private_key_file: ${(e as Error).message}`);
      }
      return privateKeyJwt(i.client_id, key, cfg.issuer);
    }
    case 'tls_client_auth': {
      const [cert, key] = [read(i.cert_file, 'cert_file'), read(i.key_file, 'key_file')];
      try {
        return tlsClientAuth(i.client_id, cert, key);
      } catch (e) {
        // OpenSSL's own text ("key values mismatch") names neither the setting nor the files.
        throw new Error(`issuers.${name}.introspection.cert_file ${i.cert_file}, key_file ${i.key_file}: ${(e as Error).message}`);
      }
    }
    case 'client_secret_basic': {
      const secret = loaded.secrets.introspectionSecrets[name];
      if (secret === undefined) throw new Error(`issuers.${name}.introspection.client_secret_env is not set`);
      return clientSecretBasic(i.client_id, secret);
    }
  }
}

/**
 * The pipeline's token stage for a config: JWT validation for `token_format: jwt` issuers and an
 * Introspector per issuer with an `introspection` section, sharing each issuer's keys (INT-7).
 * Throws on unreadable or unsuitable key files, so a bad config never starts.
 */
export function createTokenValidator(
  loaded: Pick<LoadedConfig, 'baseDir' | 'secrets'>,
  issuers: readonly JwtIssuer[],
  opts: Pick<IntrospectorOptions, 'transport' | 'now' | 'events'> & { readonly previous?: TokenValidator } = {},
): TokenValidator {
  const previous = opts.previous instanceof CompositeTokenValidator ? opts.previous : undefined;
  const composed = issuers.map((issuer): ComposedIssuer => {
    const cfg = issuer.config;
    if (cfg.introspection === undefined) return { name: issuer.name, config: cfg };
    const ca = cfg.ca_file === undefined ? [] : [readCaFile(loaded, cfg.ca_file, `issuers.${issuer.name}.ca_file`)];
    const target: IntrospectionIssuer = { name: issuer.name, config: cfg, keys: issuer.keys };
    const introspector = new Introspector(target, {
      auth: clientAuthFor(issuer.name, cfg, loaded),
      ca,
      transport: opts.transport,
      now: opts.now,
      events: opts.events,
      previous: previous?.introspector(issuer.name),
    });
    return { name: issuer.name, config: cfg, introspector };
  });
  const jwt = new JwtValidator(
    issuers.filter((i) => i.config.token_format === 'jwt'),
    undefined,
    opts.now,
    previous?.jwtValidator(),
  );
  return new CompositeTokenValidator(composed, jwt);
}
