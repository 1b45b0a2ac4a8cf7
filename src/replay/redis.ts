// Shared replay store on Redis (DPOP-21, DPOP-22): one atomic `SET key 1 NX PX ttl` per claim.
// Fails fast and closed while Redis is away, and reconnects by itself forever. Watches for what would
// make Redis forget a claim early: lost data (the epoch) and eviction.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { GatewayError } from '../errors/gateway-error.js';
import type { ReplayStore } from './store.js';

export interface RedisHostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisReplayStoreOptions {
  readonly mode: 'standalone' | 'sentinel' | 'cluster';
  /** redis:// or rediss:// (standalone). */
  readonly url?: string;
  readonly sentinels?: readonly RedisHostPort[];
  readonly sentinelName?: string;
  readonly nodes?: readonly RedisHostPort[];
  readonly password?: string;
  /** Sentinel mode: only when the sentinels themselves require AUTH (often they do not). */
  readonly sentinelPassword?: string;
  readonly tls?: boolean;
  /** PEM CA(s) the server certificate must chain to, instead of Node's bundle (with tls). */
  readonly ca?: string;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** Connection errors, for logs/metrics (the store itself never logs). Called often while Redis is down. */
  readonly onError?: (err: Error) => void;
  /** A claim that failed (timeout, refused write), for a metric: called once per failed request. */
  readonly onCommandError?: () => void;
  /** Written by ping(): readiness means Redis takes writes, not just that it answers. */
  readonly readinessKey?: string;
  /** Holds the time since which Redis remembers every claim (see inspect); never expires. */
  readonly epochKey?: string;
  /**
   * Claims made elsewhere before this time are unknown to this store whatever its epoch says: a reload
   * that moved the store (from memory, from another Redis or prefix) forgets them. A store rebuilt on
   * the same Redis starts from the floor the one it replaces had reached.
   */
  readonly floorMs?: number;
  /** dpop.iat_future_s (ms) when the store is built (see ReplayStore.futureAllowanceMs). */
  readonly futureAllowanceMs?: number;
  /** What an operator must act on: Redis lost its keys, or may evict them. Called once per change. */
  readonly onWarning?: (detail: string) => void;
}

/**
 * The claim, where one node holds every key (standalone, sentinel): refused (-1) unless the epoch is
 * still the one this gateway read (ARGV[2]), atomically with the SET NX: a Redis that lost its keys, or
 * whose epoch another gateway renewed, is noticed before a claim in it is trusted.
 */
const CLAIM_LUA = `if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 1 end
return 0`;

/** Replaces the epoch only if it is still the one read: gateways renewing at once agree on one. */
const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2]) end
return false`;

type ClaimingRedis = Redis & {
  fapiClaim(key: string, epochKey: string, ttlMs: number, epoch: string): Promise<number>;
  fapiRenew(epochKey: string, expected: string, next: string): Promise<string | null>;
};

/** An epoch is `<ms> <run_id of the Redis process that wrote it, or ->`. */
const epochMs = (epoch: string): number => Number(epoch.split(' ', 1)[0]);
const epochRun = (epoch: string): string => epoch.split(' ')[1] ?? '-';

/** How often the epoch is read again (cluster mode: the claims cannot check it, their keys are elsewhere). */
const INSPECT_EVERY_MS = 1000;
/** The eviction policy is read at every (re)connect and every this many inspections. */
const EVICTION_CHECK_EVERY = 5;

/** Reconnect forever with a capped backoff: recovery after an outage must need no restart. */
const backoff = (times: number): number => Math.min(times * 100, 2000);

const unavailable = (detail: string, cause?: unknown): GatewayError =>
  new GatewayError('GW_REPLAY_STORE_UNAVAILABLE', detail, { retryAfterS: 1, cause });

export class RedisReplayStore implements ReplayStore {
  private readonly client: Redis | Cluster;
  private readonly onCommandError: (() => void) | undefined;
  private readonly onWarning: ((detail: string) => void) | undefined;
  private readonly readinessKey: string;
  private readonly epochKey: string;
  /** The epoch read on this connection; undefined until then, and again once the connection is lost. */
  private epoch: string | undefined;
  /** The last epoch read, kept across reconnects: a different one read later is a change noticed then. */
  private lastEpoch: string | undefined;
  private sinceMs: number;
  readonly futureAllowanceMs: number;
  private reading: Promise<void> | undefined;
  /** Why Redis may drop a claim before it expires (an evicting maxmemory-policy), or undefined. */
  private evicting: string | undefined;
  private inspections = 0;
  private warnedNoPerm = false;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: RedisReplayStoreOptions) {
    this.onCommandError = opts.onCommandError;
    this.onWarning = opts.onWarning;
    this.readinessKey = opts.readinessKey ?? 'fapi:readiness';
    this.epochKey = opts.epochKey ?? 'fapi:epoch';
    this.futureAllowanceMs = opts.futureAllowanceMs ?? 0;
    this.sinceMs = opts.floorMs ?? 0;
    const common: RedisOptions = {
      // Named in CLIENT LIST, so operators can tell the gateway's connections apart.
      connectionName: 'fapi-gateway',
      connectTimeout: opts.connectTimeoutMs ?? 1000,
      commandTimeout: opts.commandTimeoutMs ?? 250,
      // Fail fast instead of queueing while disconnected, and never resend a SET NX whose reply was lost:
      // a resent claim would read as a replay of itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: backoff,
      // A connection that stops answering without closing (frozen primary, network black hole) is
      // dropped and reopened; otherwise every claim times out on it until TCP gives up (minutes).
      socketTimeout: Math.max(1000, 4 * (opts.commandTimeoutMs ?? 250)),
      // A primary turned replica behind the same address (managed Redis failover, a VIP): reconnect to
      // find the new one. 1, not 2: the refused SET NX is never sent again.
      reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.tls === true ? { tls: opts.ca === undefined ? {} : { ca: opts.ca } } : {}),
    };
    switch (opts.mode) {
      case 'standalone':
        if (opts.url === undefined) throw new TypeError('redis standalone mode needs a url');
        this.client = new Redis(opts.url, common);
        break;
      case 'sentinel':
        if (opts.sentinels === undefined || opts.sentinels.length === 0 || opts.sentinelName === undefined) {
          throw new TypeError('redis sentinel mode needs sentinels and sentinelName');
        }
        this.client = new Redis({
          ...common,
          sentinels: opts.sentinels.map((s) => ({ host: s.host, port: s.port })),
          name: opts.sentinelName,
          sentinelRetryStrategy: backoff,
          ...(opts.sentinelPassword !== undefined ? { sentinelPassword: opts.sentinelPassword } : {}),
          ...(opts.tls === true ? { enableTLSForSentinelMode: true } : {}),
        });
        break;
      case 'cluster': {
        if (opts.nodes === undefined || opts.nodes.length === 0) throw new TypeError('redis cluster mode needs nodes');
        const { retryStrategy: _r, enableOfflineQueue: _q, ...redisOptions } = common;
        this.client = new Cluster(
          opts.nodes.map((n) => ({ host: n.host, port: n.port })),
          // retryDelayOnFailover 0: a command whose connection closed is not sent again (its SET NX may
          // have run, and a resent claim would read as a replay of itself).
          { redisOptions, enableOfflineQueue: false, clusterRetryStrategy: backoff, retryDelayOnFailover: 0 },
        );
        break;
      }
    }
    // Without a listener an 'error' event would crash the process.
    const onError = opts.onError;
    this.client.on('error', (err: Error) => onError?.(err));
    this.client.defineCommand('fapiClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
    this.client.defineCommand('fapiRenew', { numberOfKeys: 1, lua: RENEW_LUA });
    // A new connection may reach another Redis process (a restart, a failover): its epoch is read again
    // before a claim is trusted.
    this.client.on('close', () => (this.epoch = undefined));
    this.client.on('ready', () => void this.inspect(true));
    this.timer = setInterval(() => void this.inspect(false), INSPECT_EVERY_MS);
    this.timer.unref();
  }

  get rememberedSinceMs(): number {
    return this.sinceMs;
  }

  /**
   * DPOP-21 needs Redis to keep every claim until it expires. The epoch key (no TTL) says since when this
   * Redis remembers, and which Redis process wrote it. Missing (a restart without persistence, a
   * FLUSHALL), or written by another process (a restart from an older snapshot, a failover to a replica
   * that may lag): a new one is written now, and every gateway refuses proofs issued before it instead of
   * accepting their replays. Claims check it in the same script as their SET NX (cluster mode: the claims'
   * keys live on other masters, so this once-a-second look is all there is). An evicting maxmemory-policy
   * could drop claims at any time: claims fail (503) until it is noeviction (or maxmemory 0), and a new
   * epoch starts then.
   */
  private async inspect(connected: boolean): Promise<void> {
    if (this.client.status !== 'ready') return;
    await this.readEpoch();
    if (connected || this.inspections++ % EVICTION_CHECK_EVERY === 0) await this.checkEviction();
  }

  /** Single flight: claims that find the epoch unknown or changed all wait for one read. */
  private readEpoch(): Promise<void> {
    this.reading ??= this.fetchEpoch().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async fetchEpoch(): Promise<void> {
    try {
      const runId = await this.runId();
      const fresh = `${Date.now()} ${runId ?? '-'}`;
      const created = (await this.client.set(this.epochKey, fresh, 'NX')) === 'OK';
      let stored = await this.client.get(this.epochKey);
      let renewed = false;
      if (stored !== null && runId !== undefined && epochRun(stored) !== '-' && epochRun(stored) !== runId) {
        // Written by another Redis process: the claims after its snapshot or replication may be lost.
        await (this.client as ClaimingRedis).fapiRenew(this.epochKey, stored, fresh);
        stored = await this.client.get(this.epochKey);
        renewed = true;
      }
      if (stored === null || !Number.isSafeInteger(epochMs(stored))) return;
      if (stored !== this.epoch) {
        // A change noticed now: nothing before now is remembered here, whatever the clock of the replica
        // that wrote the epoch said (a slow one would set the floor too early for everyone).
        const changed = this.lastEpoch !== undefined && stored !== this.lastEpoch;
        // Never lowered: a reconnect or a re-read must not undo a floor raised when a change was noticed.
        this.sinceMs = Math.max(this.sinceMs, epochMs(stored), changed ? Date.now() : 0);
        if (this.epoch !== undefined || created || renewed) {
          this.onWarning?.(
            `DPOP-21 the replay store remembers since ${new Date(this.sinceMs).toISOString()} (${this.epochKey}: it is new, restarted, failed over, or lost or could evict its keys): proofs issued before are refused`,
          );
        }
      }
      this.epoch = stored;
      this.lastEpoch = stored;
    } catch {
      // Claims fail by themselves while Redis is away; the next inspection tries again.
    }
  }

  /** The Redis process's run_id (new at every start), or undefined: cluster mode (several), or no INFO. */
  private async runId(): Promise<string | undefined> {
    if (this.client instanceof Cluster) return undefined;
    try {
      return /^run_id:(\w+)/m.exec(await this.client.info('server'))?.[1];
    } catch {
      return undefined;
    }
  }

  private async checkEviction(): Promise<void> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    let evicting: string | undefined;
    let unread = false;
    for (const node of nodes) {
      let info: string;
      try {
        info = await node.info('memory');
      } catch (e) {
        unread = true;
        // An ACL without INFO: the policy cannot be read; said once, not refused.
        if ((e as Error).message.startsWith('NOPERM') && !this.warnedNoPerm) {
          this.warnedNoPerm = true;
          this.onWarning?.('DPOP-21 cannot read the replay store\'s maxmemory-policy (NOPERM for INFO): it must be noeviction');
        }
        continue;
      }
      const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
      const max = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? '0');
      if (policy !== undefined && policy !== 'noeviction' && max > 0) {
        evicting = `maxmemory-policy ${policy} (maxmemory ${max}) may evict replay keys before they expire; set noeviction`;
        break;
      }
    }
    // Only a policy read clears an earlier verdict: a failed INFO (a timeout, an ACL) is no evidence.
    if (evicting === undefined && unread && this.evicting !== undefined) return;
    if (evicting !== this.evicting) {
      // Claims made while it could evict may be gone: a new epoch, as for a Redis that lost its keys.
      if (evicting === undefined && (await this.restartEpoch()) === false) return;
      this.evicting = evicting;
      this.onWarning?.(evicting === undefined ? 'DPOP-21 the replay store no longer evicts keys: claims resume, and proofs issued before now are refused (some claims may have been evicted)' : `DPOP-21 replay store: ${evicting}; DPoP requests get 503 until then`);
    }
  }

  /** A new epoch now, whatever the old one said; false if Redis did not take it (tried again later). */
  private async restartEpoch(): Promise<boolean> {
    try {
      await this.client.set(this.epochKey, `${Date.now()} ${(await this.runId()) ?? '-'}`);
    } catch {
      return false;
    }
    await this.readEpoch();
    return true;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    if (this.evicting !== undefined) throw unavailable(`DPOP-21 ${this.evicting}`);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const epoch = this.epoch;
    if (epoch === undefined) {
      // A new store, or a new connection: what this Redis remembers is not known yet.
      void this.readEpoch();
      throw unavailable(`DPOP-21 replay store: ${this.epochKey} not read yet on this connection`);
    }
    let first: boolean;
    try {
      if (this.client instanceof Cluster) first = (await this.client.set(key, '1', 'PX', ttl, 'NX')) === 'OK';
      else {
        const reply = await (this.client as ClaimingRedis).fapiClaim(key, this.epochKey, ttl, epoch);
        if (reply === -1) {
          // Lost its keys, or another gateway renewed the epoch: read again; proofs before it are refused.
          this.epoch = undefined;
          void this.readEpoch();
          throw new Error(`${this.epochKey} is not the one read: Redis is new, restarted or lost its keys`);
        }
        first = reply === 1;
      }
    } catch (err) {
      this.onCommandError?.();
      throw unavailable(`DPOP-22 replay store claim failed: ${err instanceof Error ? err.message : 'unknown error'}`, err);
    }
    return first;
  }

  /** Ready when Redis takes a write (a read-only replica or an out-of-memory primary answers PING too). */
  async ping(): Promise<boolean> {
    if (this.evicting !== undefined) return false;
    // A Redis seen for the first time gets its epoch before the first claim needs it.
    await this.readEpoch();
    try {
      return (await this.client.set(this.readinessKey, '1', 'PX', 5000)) === 'OK';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    // Also stops any pending reconnect.
    this.client.disconnect();
  }
}
