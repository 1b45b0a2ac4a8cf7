// An issuer's signing keys: discovered and fetched over verified TLS, refreshed in the background,
// refetched on an unknown `kid` at most once per cooldown, one fetch at a time (JWT-3, JWT-4, TLS-11).
// Until keys are first loaded, a failed fetch is retried on demand after a short back-off (Q-13: 503 meanwhile).
// Each successful fetch is a new generation; cached tokens check once per generation that the key that
// verified them is still published, so removing a key from the JWKS revokes what it signed.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { IssuerConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { metadataUrls } from './discovery.js';
import { getJson, getJwksKeys, JWKS_MISS_MIN_AGE_MS, type HttpClientOptions } from './http-client.js';

type KeyGetter = ReturnType<typeof createLocalJWKSet>;

/**
 * While no keys were ever loaded, a failed fetch holds further fetches off for min(jwks_refetch_cooldown_s,
 * this): requests fail closed anyway, so refetching on each one only piles load on an AS that is already
 * failing, and a full 30-60 s cooldown would keep the gateway down that long after the AS is back.
 */
const FIRST_FETCH_BACKOFF_MAX_S = 5;

/** The share of jwks_refresh_s after which a request starts a background refresh (see freshen). */
const SOFT_REFRESH = 0.8;

/** A public key's identity: its RFC 7638 members, canonically ordered (kid and alg do not count). */
export function keyMaterial(jwk: JWK): string | undefined {
  switch (jwk.kty) {
    case 'EC':
      return JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    case 'RSA':
      return JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
    case 'OKP':
      return JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
    default:
      return undefined;
  }
}

/**
 * keyMaterial of a published JWK, through the same import and export as the key a token was verified
 * with, so both sides spell it alike (an RSA `n` with a leading zero byte, say).
 */
function publishedMaterial(jwk: JWK): string | undefined {
  try {
    return keyMaterial(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'jwk' }) as JWK);
  } catch {
    return undefined;
  }
}

/** A public key for signatures: not `use: enc`, `key_ops` (if any) with verify, readable as a key. */
function canVerify(jwk: JWK): boolean {
  return jwk.use !== 'enc' && (!Array.isArray(jwk.key_ops) || jwk.key_ops.includes('verify')) && publishedMaterial(jwk) !== undefined;
}

export interface KeySourceEvents {
  onFetch?(issuer: string, ok: boolean, detail: string): void;
}

export class IssuerKeys {
  private local: KeyGetter | undefined;
  private jwksUri: string | undefined;
  private fetchedAt = 0;
  private attemptedAt = 0;
  /** When an unknown kid last made a fetch: the cooldown bounds those, not the scheduled ones (JWT-4). */
  private missFetchAt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private failedAt = 0;
  private inflight: Promise<void> | undefined;
  private http: HttpClientOptions;
  private material: ReadonlySet<string> = new Set();
  /** Bumped by every successful fetch. */
  generation = 0;

  constructor(
    private cfg: IssuerConfig,
    ca: readonly string[],
    private readonly events: KeySourceEvents = {},
    /** For durations only (refresh, cooldowns): monotonic, so a wall-clock step (NTP) stretches none. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.jwksUri = cfg.jwks_uri;
    this.http = { ca, timeoutMs: cfg.http_timeout_ms };
  }

  /** A reload that changes only timings keeps the keys (same issuer, jwks_uri and CAs: see main.ts). */
  configure(cfg: IssuerConfig): void {
    this.cfg = cfg;
    this.http = { ...this.http, timeoutMs: cfg.http_timeout_ms };
  }

  get issuer(): string {
    return this.cfg.issuer;
  }

  /** True once keys were fetched at least once (readiness). */
  get ready(): boolean {
    return this.local !== undefined;
  }

  /** Whether the JWKS of the current generation publishes this key (see keyMaterial). */
  holds(material: string): boolean {
    return this.material.has(material);
  }

  /**
   * JWT-3 on every use of the keys. Past SOFT_REFRESH of jwks_refresh_s: a fetch starts in the
   * background, so under traffic the keys never go stale. Past jwks_refresh_s (an idle issuer): the
   * returned fetch must settle before they judge a token, so a key the AS withdrew stops verifying
   * within jwks_refresh_s however long nobody asked. A failed fetch keeps the held keys (the promise
   * never rejects); the cooldown then holds the next one back, so an AS outage costs one wait per cooldown.
   */
  freshen(): Promise<void> | undefined {
    if (this.local === undefined) return undefined;
    const age = this.now() - this.fetchedAt;
    const refreshMs = this.cfg.jwks_refresh_s * 1000;
    const due = this.inflight !== undefined || !this.lastFetchFailed || this.now() - this.attemptedAt >= this.cfg.jwks_refetch_cooldown_s * 1000;
    if (!due || age <= refreshMs * SOFT_REFRESH) return undefined;
    const fetch = this.refresh().catch(() => undefined);
    return age > refreshMs ? fetch : undefined;
  }

  /** The key resolver handed to jose. Never called with an unverified `jku`/`x5u`/`jwk`. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (this.local === undefined) await this.firstFetch();
    else {
      const fetch = this.freshen();
      if (fetch !== undefined) await fetch;
    }
    try {
      return await (this.local as KeyGetter)(header, token);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw e;
      // A fetch under way (another request's kid miss, or a background refresh) may bring the
      // key (JWT-4): wait for it rather than refuse a token of a key the AS has just rotated in.
      if (this.inflight !== undefined) {
        await this.inflight.catch(() => undefined);
        try {
          return await (this.local as KeyGetter)(header, token);
        } catch (again) {
          throw (again as { code?: string }).code === 'ERR_JWKS_NO_MATCHING_KEY' ? this.missError(again) : again;
        }
      }
      if (this.coolingDown()) throw this.missError(e);
      this.missFetchAt = this.now();
      await this.refresh();
      return (this.local as KeyGetter)(header, token);
    }
  };

  /**
   * A token without kid failed its signature: the key may have just been rotated in (JWT-4). Waits for a
   * fetch under way, or makes one unless within the cooldown; true if the keys may have changed. Throws
   * GW_JWKS_UNAVAILABLE when that fetch, or the last one, failed: an outage, not a bad token (as missError).
   */
  async refetchAllowed(): Promise<boolean> {
    if (this.inflight !== undefined) {
      await this.inflight.catch(() => undefined);
      if (this.lastFetchFailed) throw this.missError(undefined);
      return true;
    }
    if (this.coolingDown()) {
      if (this.lastFetchFailed) throw this.missError(undefined);
      return false;
    }
    this.missFetchAt = this.now();
    await this.refresh();
    return true;
  }

  /** An unknown key with no fetch due: a bad token (401), or an outage (503) if the last fetch failed. */
  private missError(miss: unknown): unknown {
    return this.lastFetchFailed ? new GatewayError('GW_JWKS_UNAVAILABLE', `JWKS for ${this.cfg.issuer}: unknown key while the last fetch failed`, { retryAfterS: 5 }) : miss;
  }

  /** Readiness: no keys yet, so fetch again if the first-fetch back-off allows (probes drive recovery). */
  retryIfMissing(): void {
    if (this.local === undefined) this.firstFetch().catch(() => undefined);
  }

  /** No keys yet: join the fetch under way, or start one unless the last one failed less than the back-off ago. */
  private firstFetch(): Promise<void> {
    const backoffMs = Math.min(this.cfg.jwks_refetch_cooldown_s, FIRST_FETCH_BACKOFF_MAX_S) * 1000;
    if (this.inflight === undefined && this.lastFetchFailed && this.now() - this.failedAt < backoffMs) {
      return Promise.reject(
        new GatewayError('GW_JWKS_UNAVAILABLE', `JWKS for ${this.cfg.issuer}: no keys yet, last fetch failed, next attempt after ${backoffMs} ms`, { retryAfterS: 5 }),
      );
    }
    return this.refresh();
  }

  /**
   * No fetch for an unknown kid: one was made less than the cooldown ago (start-up, reload and refresh
   * fetches do not count, unless they failed: a key rotated in just after one must not wait out a
   * cooldown), or the keys were fetched under JWKS_MISS_MIN_AGE_MS ago (a kid they lack is the token's problem).
   */
  private coolingDown(): boolean {
    const now = this.now();
    const cooldownMs = this.cfg.jwks_refetch_cooldown_s * 1000;
    // During an outage any fetch counts: requests wait on a failing fetch at most once per cooldown.
    if (this.lastFetchFailed && now - this.attemptedAt < cooldownMs) return true;
    return now - this.missFetchAt < cooldownMs || now - this.fetchedAt < JWKS_MISS_MIN_AGE_MS;
  }

  /** Fetch now (single flight). Throws GW_JWKS_UNAVAILABLE on failure. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetch(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      this.jwksUri ??= await this.discover();
      const jwks = { keys: await getJwksKeys(this.jwksUri, this.http) } as JSONWebKeySet;
      // An AS always signs with some key: none is a broken answer (an outage, 503), never a reason to
      // drop the held keys and refuse every token as invalid.
      if (!jwks.keys.some(canVerify)) throw new Error(jwks.keys.length === 0 ? 'JWKS has no keys' : 'JWKS has no key that can verify a signature');
      this.local = createLocalJWKSet(jwks);
      this.material = new Set(jwks.keys.map(publishedMaterial).filter((m): m is string => m !== undefined));
      this.generation++;
      this.fetchedAt = this.now();
      this.lastFetchFailed = false;
      this.events.onFetch?.(this.cfg.issuer, true, `${jwks.keys.length} keys`);
    } catch (e) {
      this.lastFetchFailed = true;
      this.failedAt = this.now();
      // A discovered jwks_uri is looked up again next time: the AS may have moved it.
      if (this.cfg.jwks_uri === undefined) this.jwksUri = undefined;
      const detail = `JWKS for ${this.cfg.issuer}: ${(e as Error).message}`;
      this.events.onFetch?.(this.cfg.issuer, false, detail);
      throw new GatewayError('GW_JWKS_UNAVAILABLE', detail, { retryAfterS: 5, cause: e });
    }
  }

  /** RFC 8414 §3 (well-known inserted before the issuer path), then OIDC Discovery. */
  private async discover(): Promise<string> {
    const candidates = metadataUrls(this.cfg.issuer);
    let last: unknown;
    for (const url of candidates) {
      try {
        const meta = (await getJson(url, this.http)) as { issuer?: unknown; jwks_uri?: unknown };
        if (meta.issuer !== this.cfg.issuer) throw new Error(`metadata issuer ${String(meta.issuer).slice(0, 100)} does not match`);
        if (typeof meta.jwks_uri !== 'string' || !meta.jwks_uri.startsWith('https://')) throw new Error('metadata has no https jwks_uri');
        return meta.jwks_uri;
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof Error ? last : new Error('discovery failed');
  }
}
