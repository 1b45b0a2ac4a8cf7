// SIG-2: a client's signing keys behind its `jwks_uri` (a directory-hosted JWKS): fetched over
// verified TLS (TLS-11), fetched again before keys older than refresh_s judge a request, refetched on an
// unknown keyid at most once per cooldown, one fetch at a time. The gateway does not own the document:
// keys it cannot use for signing (encryption keys, no `alg`, weak RSA) are skipped, not fatal. Each
// fetch replaces the keys, so a key removed from the document stops verifying.
import { signingJwk } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { getJwksKeys, JWKS_MISS_MIN_AGE_MS, type HttpClientOptions } from '../token/http-client.js';
import { importClientKey, type ClientKey, type FetchedClientKeys } from './client-keys.js';

export interface ClientJwksOptions {
  readonly http: HttpClientOptions;
  readonly refreshS: number;
  readonly refetchCooldownS: number;
}

export interface ClientJwksEvents {
  onFetch?(clientId: string, ok: boolean, detail: string): void;
}

/** As the issuers' keys: requests fail closed meanwhile, and a long cooldown would outlast the outage. */
const FIRST_FETCH_BACKOFF_MAX_S = 5;

/** The share of refresh_s after which a request starts a background fetch (as issuer keys do). */
const SOFT_REFRESH = 0.8;
/** How many skipped keys a fetch's log line names (the others are counted). */
const SKIPPED_NAMED = 5;

/** keyid -> key, how many entries were skipped, and why (the first few). */
export function usableKeys(list: readonly unknown[]): { keys: Map<string, ClientKey>; skipped: number; reasons: string[] } {
  // Which key a signature under a kid published twice meant is unknown: none of them is used, whatever
  // the others are (an encryption key, a weak one).
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const raw of list) {
    const kid = (raw as { kid?: unknown } | null)?.kid;
    if (typeof kid !== 'string') continue;
    if (seen.has(kid)) twice.add(kid);
    seen.add(kid);
  }
  const keys = new Map<string, ClientKey>();
  const reasons: string[] = [];
  let skipped = 0;
  const skip = (i: number, raw: unknown, why: () => string): void => {
    if (++skipped > SKIPPED_NAMED) return;
    const kid = (raw as { kid?: unknown } | null)?.kid;
    reasons.push(`${typeof kid === 'string' ? JSON.stringify(kid).slice(0, 40) : `#${i}`}: ${why()}`);
  };
  list.forEach((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return skip(i, raw, () => 'not a JWK object');
    const parsed = signingJwk.safeParse(raw);
    if (!parsed.success) return skip(i, raw, () => parsed.error.issues.map((x) => `${x.path.join('.') || 'key'} ${x.message}`.slice(0, 80)).join('; '));
    if (twice.has(parsed.data.kid)) return skip(i, raw, () => 'duplicate kid');
    const key = importClientKey(parsed.data);
    if (typeof key === 'string') return skip(i, raw, () => key.slice(0, 80));
    keys.set(parsed.data.kid, key);
  });
  return { keys, skipped, reasons };
}

export class ClientJwks implements FetchedClientKeys {
  private keys: ReadonlyMap<string, ClientKey> | undefined;
  private fetchedAt = 0;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  /** When an unknown keyid last made a fetch: the cooldown bounds those, not the scheduled ones. */
  private missFetchAt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private failedAt = 0;
  private lastProblem = '';
  private inflight: Promise<void> | undefined;

  constructor(
    readonly clientId: string,
    private readonly uri: string,
    private opts: ClientJwksOptions,
    private readonly events: ClientJwksEvents = {},
    /** For durations only (refresh, cooldowns): monotonic, so a wall-clock step (NTP) stretches none. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  get ready(): boolean {
    return this.keys !== undefined;
  }

  /** A reload that changes only timings or limits keeps the keys held (a new fetcher would drop them). */
  configure(opts: ClientJwksOptions): void {
    this.opts = opts;
  }

  async find(keyid: string): Promise<ClientKey | undefined> {
    if (this.keys === undefined) await this.firstFetch();
    else {
      const fetch = this.freshen();
      if (fetch !== undefined) await fetch;
    }
    const key = (this.keys as ReadonlyMap<string, ClientKey>).get(keyid);
    if (key !== undefined) return key;
    // A fetch under way (another request's miss) may bring a key just rotated in.
    if (this.inflight !== undefined) {
      await this.inflight.catch(() => undefined);
      return (this.keys as ReadonlyMap<string, ClientKey>).get(keyid) ?? this.miss();
    }
    // As issuer keys: only fetches for unknown keyids count against the cooldown (any fetch, during an
    // outage), and keys just fetched are not fetched again.
    const now = this.now();
    const cooldownMs = this.opts.refetchCooldownS * 1000;
    if (now - this.missFetchAt < cooldownMs || now - this.fetchedAt < JWKS_MISS_MIN_AGE_MS || (this.lastFetchFailed && now - this.attemptedAt < cooldownMs)) return this.miss();
    this.missFetchAt = this.now();
    await this.refresh();
    return (this.keys as ReadonlyMap<string, ClientKey>).get(keyid);
  }

  /** Fetch now (single flight). Rejects with GW_CLIENT_JWKS_UNAVAILABLE on failure. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Keys older than refresh_s never judge a request while a fetch could replace them: a key the client
   * withdrew (compromised) stops verifying within refresh_s, however idle the route was. From
   * SOFT_REFRESH of it a fetch starts in the background, so under traffic nobody waits. A failed fetch
   * leaves the held keys verifying (an outage; the promise never rejects) and is retried after the cooldown.
   */
  private freshen(): Promise<void> | undefined {
    const age = this.now() - this.fetchedAt;
    const refreshMs = this.opts.refreshS * 1000;
    const due = this.inflight !== undefined || !this.lastFetchFailed || this.now() - this.attemptedAt >= this.opts.refetchCooldownS * 1000;
    if (!due || age <= refreshMs * SOFT_REFRESH) return undefined;
    const fetch = this.refresh().catch(() => undefined);
    return age > refreshMs ? fetch : undefined;
  }

  /** An unknown keyid with no fetch due: no such key (401), or an outage (503) if the last fetch failed. */
  private miss(): undefined {
    if (this.lastFetchFailed) throw this.unavailable(`unknown keyid while the last fetch failed (${this.lastProblem})`);
    return undefined;
  }

  private firstFetch(): Promise<void> {
    const backoffMs = Math.min(this.opts.refetchCooldownS, FIRST_FETCH_BACKOFF_MAX_S) * 1000;
    if (this.inflight === undefined && this.lastFetchFailed && this.now() - this.failedAt < backoffMs) {
      return Promise.reject(this.unavailable(`no keys yet, last fetch failed (${this.lastProblem}), next attempt within ${backoffMs} ms`));
    }
    return this.refresh();
  }

  private unavailable(detail: string, cause?: unknown): GatewayError {
    return new GatewayError('GW_CLIENT_JWKS_UNAVAILABLE', `SIG-2 keys of client ${JSON.stringify(this.clientId).slice(0, 80)} from its jwks_uri: ${detail}`, { retryAfterS: 5, cause });
  }

  private async fetch(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      const { keys, skipped, reasons } = usableKeys(await getJwksKeys(this.uri, this.opts.http));
      this.keys = keys;
      this.fetchedAt = this.now();
      this.lastFetchFailed = false;
      const named = reasons.join(', ') + (skipped > reasons.length ? `, ${skipped - reasons.length} more` : '');
      this.events.onFetch?.(this.clientId, true, `${keys.size} usable keys${skipped > 0 ? `, ${skipped} skipped (${named})` : ''}`);
    } catch (e) {
      this.lastFetchFailed = true;
      this.failedAt = this.now();
      // Cut: the remote side chooses it (Node lists every name of a wrong certificate), and every 503 repeats it.
      this.lastProblem = (e as Error).message.slice(0, 300);
      this.events.onFetch?.(this.clientId, false, this.lastProblem);
      throw this.unavailable(this.lastProblem, e);
    }
  }
}
