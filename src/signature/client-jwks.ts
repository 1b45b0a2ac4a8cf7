// SIG-2: a client's signing keys behind its `jwks_uri` (a directory-hosted JWKS): fetched over
// verified TLS (TLS-11), refreshed in the background, refetched on an unknown keyid at most once per
// cooldown, one fetch at a time; as the issuers' keys (token/issuer-keys.ts). The gateway does not
// own the document: keys it cannot use for signing (encryption keys, no `alg`, weak RSA) are skipped,
// not fatal. Each fetch replaces the keys, so a key removed from the document stops verifying.
import { signingJwk } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { getJson, type HttpClientOptions } from '../token/http-client.js';
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
/** How many skipped keys a fetch's log line names. */
const SKIPPED_NAMED = 5;

/** keyid -> key, and why the others were left out. */
export function usableKeys(jwks: unknown): { keys: Map<string, ClientKey>; skipped: string[] } {
  const list = typeof jwks === 'object' && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) throw new Error('not a JWKS (no keys array)');
  const keys = new Map<string, ClientKey>();
  const skipped: string[] = [];
  const duplicated = new Set<string>();
  list.forEach((raw: unknown, i) => {
    const parsed = signingJwk.safeParse(raw);
    const kid = typeof (raw as { kid?: unknown } | null)?.kid === 'string' ? JSON.stringify((raw as { kid: string }).kid).slice(0, 40) : `#${i}`;
    if (!parsed.success) return void skipped.push(`${kid}: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'key'} ${x.message}`.slice(0, 80)).join('; ')}`);
    const key = importClientKey(parsed.data);
    if (typeof key === 'string') return void skipped.push(`${kid}: ${key.slice(0, 80)}`);
    // Two keys under one kid: which one a signature meant is not known, so neither is used.
    if (keys.has(parsed.data.kid) || duplicated.has(parsed.data.kid)) {
      keys.delete(parsed.data.kid);
      duplicated.add(parsed.data.kid);
      return void skipped.push(`${kid}: duplicate kid`);
    }
    keys.set(parsed.data.kid, key);
  });
  return { keys, skipped };
}

export class ClientJwks implements FetchedClientKeys {
  private keys: ReadonlyMap<string, ClientKey> | undefined;
  private fetchedAt = 0;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private failedAt = 0;
  private lastProblem = '';
  private inflight: Promise<void> | undefined;

  constructor(
    readonly clientId: string,
    private readonly uri: string,
    private readonly opts: ClientJwksOptions,
    private readonly events: ClientJwksEvents = {},
    private readonly now: () => number = Date.now,
  ) {}

  get ready(): boolean {
    return this.keys !== undefined;
  }

  async find(keyid: string): Promise<ClientKey | undefined> {
    if (this.keys === undefined) await this.firstFetch();
    else this.refreshIfStale();
    const key = (this.keys as ReadonlyMap<string, ClientKey>).get(keyid);
    if (key !== undefined) return key;
    // A fetch under way (a stale refresh, another request's miss) may bring a key just rotated in.
    if (this.inflight !== undefined) {
      await this.inflight.catch(() => undefined);
      return (this.keys as ReadonlyMap<string, ClientKey>).get(keyid) ?? this.miss();
    }
    if (this.now() - this.attemptedAt < this.opts.refetchCooldownS * 1000) return this.miss();
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

  /** An unknown keyid with no fetch due: no such key (401), or an outage (503) if the last fetch failed. */
  private miss(): undefined {
    if (this.lastFetchFailed) throw this.unavailable(`unknown keyid while the last fetch failed (${this.lastProblem})`);
    return undefined;
  }

  private refreshIfStale(): void {
    const now = this.now();
    if (now - this.fetchedAt > this.opts.refreshS * 1000 && now - this.attemptedAt >= this.opts.refetchCooldownS * 1000) {
      this.refresh().catch(() => undefined);
    }
  }

  private firstFetch(): Promise<void> {
    const backoffMs = Math.min(this.opts.refetchCooldownS, FIRST_FETCH_BACKOFF_MAX_S) * 1000;
    if (this.inflight === undefined && this.lastFetchFailed && this.now() - this.failedAt < backoffMs) {
      return Promise.reject(this.unavailable(`no keys yet, last fetch failed (${this.lastProblem}), next attempt within ${backoffMs} ms`));
    }
    return this.refresh();
  }

  private unavailable(detail: string): GatewayError {
    return new GatewayError('GW_CLIENT_JWKS_UNAVAILABLE', `SIG-2 keys of client ${JSON.stringify(this.clientId).slice(0, 80)} from its jwks_uri: ${detail}`, { retryAfterS: 5 });
  }

  private async fetch(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      const { keys, skipped } = usableKeys(await getJson(this.uri, this.opts.http));
      this.keys = keys;
      this.fetchedAt = this.now();
      this.lastFetchFailed = false;
      const named = skipped.slice(0, SKIPPED_NAMED).join(', ') + (skipped.length > SKIPPED_NAMED ? `, ${skipped.length - SKIPPED_NAMED} more` : '');
      this.events.onFetch?.(this.clientId, true, `${keys.size} usable keys${skipped.length > 0 ? `, ${skipped.length} skipped (${named})` : ''}`);
    } catch (e) {
      this.lastFetchFailed = true;
      this.failedAt = this.now();
      this.lastProblem = (e as Error).message;
      this.events.onFetch?.(this.clientId, false, this.lastProblem);
      throw this.unavailable(this.lastProblem);
    }
  }
}
