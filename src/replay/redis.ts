// Shared replay store on Redis (DPOP-21, DPOP-22): one atomic `SET key 1 NX PX ttl` per claim.
// Fails fast and closed while Redis is away, and reconnects by itself forever.
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
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** Connection errors, for logs/metrics (the store itself never logs). Called often while Redis is down. */
  readonly onError?: (err: Error) => void;
  /** A claim that failed (timeout, refused write), for a metric: called once per failed request. */
  readonly onCommandError?: () => void;
  /** Written by ping(): readiness means Redis takes writes, not just that it answers. */
  readonly readinessKey?: string;
}

/** Reconnect forever with a capped backoff: recovery after an outage must need no restart. */
const backoff = (times: number): number => Math.min(times * 100, 2000);

const unavailable = (detail: string, cause?: unknown): GatewayError =>
  new GatewayError('GW_REPLAY_STORE_UNAVAILABLE', detail, { retryAfterS: 1, cause });

export class RedisReplayStore implements ReplayStore {
  private readonly client: Redis | Cluster;
  private readonly onCommandError: (() => void) | undefined;
  private readonly readinessKey: string;

  constructor(opts: RedisReplayStoreOptions) {
    this.onCommandError = opts.onCommandError;
    this.readinessKey = opts.readinessKey ?? 'fapi:readiness';
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
      ...(opts.tls === true ? { tls: {} } : {}),
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
          { redisOptions, enableOfflineQueue: false, clusterRetryStrategy: backoff },
        );
        break;
      }
    }
    // Without a listener an 'error' event would crash the process.
    const onError = opts.onError;
    this.client.on('error', (err: Error) => onError?.(err));
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    let reply: string | null;
    try {
      reply = await this.client.set(key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    } catch (err) {
      this.onCommandError?.();
      throw unavailable(`DPOP-22 replay store SET NX failed: ${err instanceof Error ? err.message : 'unknown error'}`, err);
    }
    return reply === 'OK';
  }

  /** Ready when Redis takes a write (a read-only replica or an out-of-memory primary answers PING too). */
  async ping(): Promise<boolean> {
    try {
      return (await this.client.set(this.readinessKey, '1', 'PX', 5000)) === 'OK';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
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
