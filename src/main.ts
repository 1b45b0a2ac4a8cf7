// Composition root: load config -> build stages -> listen -> shut down. The only file that picks implementations.
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { DpopNonces } from './binding/dpop-nonce.js';
import { DpopVerifier } from './binding/dpop-proof.js';
import { SenderConstraintVerifier } from './binding/sender-constraint.js';
import { readCaFile, type LoadedConfig } from './config/load.js';
import { DEFAULT_MAX_BUFFERED_BYTES } from './config/schema.js';
import { BufferBudget } from './forward/body.js';
import { ownedHeaderNames } from './forward/headers.js';
import { ProxyForwarder } from './forward/proxy-forwarder.js';
import { Gateway, type Pipeline } from './gateway.js';
import { createAdminServer } from './listen/admin-server.js';
import { applyClientCertificatePolicy, applyServerLimits, createApiServer, retireConnections } from './listen/api-server.js';
import { clientTrust, type ClientTrust } from './listen/client-chain.js';
import { ForwardedCertPolicy } from './listen/forwarded-cert.js';
import { tlsOptions } from './listen/tls-options.js';
import { buildProtectedResourceMetadata } from './metadata/protected-resource.js';
import { createLogger, flushLogger, type Logger } from './observe/logger.js';
import { createMetrics, type Metrics } from './observe/metrics.js';
import { guardPeerCertificates } from './peer-certificate.js';
import { MemoryReplayStore } from './replay/memory.js';
import { ClientJwks } from './signature/client-jwks.js';
import { ClientKeyring, compileClientKeys } from './signature/client-keys.js';
import { RequestSignatureVerifier } from './signature/request-signature.js';
import { buildResponseSigner } from './signature/response-signer.js';
import { RedisReplayStore } from './replay/redis.js';
import { ReplayClock, trustedFromMs, type ReplayStore } from './replay/store.js';
import { compileRouteTable } from './route/table.js';
import { IssuerKeys } from './token/issuer-keys.js';
import { createTokenValidator } from './token/token-validator.js';

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly apiAddress: AddressInfo;
  readonly adminAddress: AddressInfo | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** undefined when ready (keys fetched, replay store reachable, not draining), else why not. */
  notReady(): Promise<string | undefined>;
  /** Validate-and-swap a new config; throws (and keeps the old one serving) if it cannot be built. */
  reload(next: LoadedConfig): void;
  /** Readiness 503, stop accepting, finish in-flight requests (up to deadlineMs: drain_timeout_ms as started), close dependencies. */
  close(deadlineMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Where log lines go (tests capture them); stdout by default. */
  readonly logDestination?: DestinationStream;
  /** false: do not open the admin listener (a cluster worker: the primary serves it). */
  readonly admin?: boolean;
}

interface Built {
  readonly pipeline: Pipeline;
  readonly dpop: DpopVerifier;
  readonly issuerKeys: readonly IssuerKeys[];
  /** The Shared.issuerKeys and Shared.clientJwks entries this config uses; the others are dropped once it serves. */
  readonly keyCacheKeys: ReadonlySet<string>;
  /** Clients' keys behind a jwks_uri, warmed at start (readiness does not wait for them). */
  readonly clientJwks: readonly ClientJwks[];
  /** New timings for key caches kept from the serving config: applied only once this one serves. */
  readonly retime: readonly (() => void)[];
}

/**
 * What outlives a config reload: the forwarder (its keep-alive pools), the replay store (a reload must
 * not forget which jtis were used) and the key caches of issuers and of clients with a jwks_uri, reused
 * while their config is unchanged (and dropped once no serving config uses them: see pruneKeyCaches).
 */
interface Shared {
  readonly forwarder: ProxyForwarder;
  readonly buffers: BufferBudget;
  replay: { readonly config: string; readonly target: string; readonly store: ReplayStore } | undefined;
  /** DPOP-21: the future allowance over time and wall-clock steps, for the whole process (every store, every reload). */
  readonly replayClock: ReplayClock;
  readonly issuerKeys: Map<string, IssuerKeys>;
  readonly clientJwks: Map<string, ClientJwks>;
}

const MEMORY_KEY_PREFIX = 'fapi:dpop:';

/** http_signatures.max_buffered_bytes, or its default when nothing is signed (no body is buffered then). */
const bufferLimit = (loaded: LoadedConfig): number => loaded.config.http_signatures?.max_buffered_bytes ?? DEFAULT_MAX_BUFFERED_BYTES;
/** Clients' jwks_uri fetched at once when a config starts serving. */
const WARM_CLIENT_FETCHES = 16;

/** Where the claims live: the memory store, or one key prefix of one Redis deployment. */
function replayTarget(loaded: LoadedConfig): string {
  const r = loaded.config.replay;
  if (r.store === 'memory') return 'memory';
  const c = r.redis!;
  return JSON.stringify([c.mode, loaded.secrets.redisUrl, c.sentinels, c.sentinel_name, c.nodes, c.key_prefix]);
}

function buildReplayStore(loaded: LoadedConfig, logger: Logger, metrics: Metrics, floorMs: number, ca: string | undefined): ReplayStore {
  const r = loaded.config.replay;
  const futureAllowanceMs = loaded.config.dpop.iat_future_s * 1000;
  if (r.store === 'memory') return new MemoryReplayStore({ maxEntries: r.memory_max_entries, futureAllowanceMs, floorMs });
  const c = r.redis!;
  return new RedisReplayStore({
    mode: c.mode,
    url: loaded.secrets.redisUrl,
    password: loaded.secrets.redisPassword,
    sentinels: c.sentinels,
    sentinelName: c.sentinel_name,
    nodes: c.nodes,
    tls: c.tls,
    ...(ca === undefined ? {} : { ca }),
    connectTimeoutMs: c.connect_timeout_ms,
    commandTimeoutMs: c.command_timeout_ms,
    onError: (err: Error) => {
      metrics.replayStoreErrors.inc();
      logger.warn({ detail: err.message }, 'replay store error');
    },
    // Each refused request logs its own line; the metric counts the failed command too.
    onCommandError: () => metrics.replayStoreErrors.inc(),
    readinessKey: `${c.key_prefix}readiness`,
    epochKey: `${c.key_prefix}epoch`,
    floorMs,
    futureAllowanceMs,
    onWarning: (detail: string) => logger.warn({ detail }, 'replay store warning'),
  });
}

/** `replaced`: the config being replaced (a reload): its introspection answers may carry over. */
function build(loaded: LoadedConfig, logger: Logger, metrics: Metrics, shared: Shared, replaced?: Built): Built {
  const previous = replaced?.pipeline;
  const c = loaded.config;
  const routes = compileRouteTable(loaded);
  const signingKeys = compileClientKeys(loaded);
  const keyCacheKeys = new Set<string>();
  const retime: (() => void)[] = [];
  const clientJwks = buildClientJwks(loaded, logger, metrics, shared, keyCacheKeys, retime);
  const trust = clientTrust(loaded);
  const issuerKeys: IssuerKeys[] = [];
  const issuers = Object.entries(c.issuers).map(([name, cfg]) => {
    const ca = cfg.ca_file === undefined ? [] : [readCaFile(loaded, cfg.ca_file, `issuers.${name}.ca_file`)];
    // Where the keys come from: a reload changing anything else (leeway, algorithms, introspection,
    // timings) keeps them (a refetch would turn readiness to 503 and, with the AS unreachable, refuse
    // every token); the timings are applied to the kept ones.
    const cacheKey = JSON.stringify([name, cfg.issuer, cfg.jwks_uri, ca]);
    keyCacheKeys.add(cacheKey);
    let keys = shared.issuerKeys.get(cacheKey);
    if (keys !== undefined) {
      const kept = keys;
      retime.push(() => kept.configure(cfg));
    } else {
      keys = new IssuerKeys(cfg, ca, {
        onFetch: (issuer, ok, detail) => {
          metrics.jwksFetches.inc({ issuer: name, result: ok ? 'ok' : 'error' });
          // `issuer` is the config name, as on request lines and metric labels; `url` the issuer itself.
          if (ok) logger.info({ issuer: name, url: issuer, detail }, 'jwks fetched');
          else logger.warn({ issuer: name, url: issuer, detail }, 'jwks fetch failed');
        },
      });
      shared.issuerKeys.set(cacheKey, keys);
    }
    // Readiness waits only for keys the gateway uses: JWT issuers and signed introspection answers.
    if (cfg.token_format === 'jwt' || cfg.introspection?.signed_response === true) issuerKeys.push(keys);
    return { name, config: cfg, keys };
  });
  // A new store forgets every used jti (DPOP-21): only a change of store or connection makes one. The
  // memory store's size limit is applied to the running store once the config is accepted; its
  // identity ignores the (unused) redis section, so preparing a switch to Redis forgets nothing.
  const { memory_max_entries: _maxEntries, ...replayIdentity } = c.replay;
  // The CA's text too: a renewed CA (same path) reconnects with it.
  const caFile = c.replay.store === 'redis' ? c.replay.redis?.ca_file : undefined;
  const redisCa = caFile === undefined ? undefined : readCaFile(loaded, caFile, 'replay.redis.ca_file');
  const replayConfig = c.replay.store === 'memory' ? 'memory' : JSON.stringify([replayIdentity, loaded.secrets.redisUrl, loaded.secrets.redisPassword, redisCa]);
  if (shared.replay?.config !== replayConfig) {
    // Moved to another store (memory to Redis, another Redis or prefix): the claims made in the old one
    // are not in the new one, whatever its epoch says, so it vouches only from now. Same Redis and
    // prefix with other timeouts, credentials or CA: its own epoch stands, and the floor the old store reached.
    const target = replayTarget(loaded);
    const previous = shared.replay;
    const floorMs = previous === undefined ? 0 : previous.target !== target ? Date.now() : previous.store.rememberedSinceMs;
    shared.replay = { config: replayConfig, target, store: buildReplayStore(loaded, logger, metrics, floorMs, redisCa) };
  }
  const nonces =
    c.dpop.nonce === undefined || loaded.secrets.dpopNonceSecrets === undefined
      ? undefined
      : new DpopNonces({ secrets: loaded.secrets.dpopNonceSecrets, stepS: c.dpop.nonce.step_s, windowS: c.dpop.nonce.window_s });
  const dpop = new DpopVerifier({
    algorithms: c.dpop.algorithms,
    iatPastS: c.dpop.iat_past_s,
    iatFutureS: c.dpop.iat_future_s,
    // A memory store's keys never depend on the redis section (a changed prefix would miss every used jti).
    keyPrefix: c.replay.store === 'redis' ? (c.replay.redis?.key_prefix ?? MEMORY_KEY_PREFIX) : MEMORY_KEY_PREFIX,
    nonces,
    earlier: replaced?.dpop.handover(Date.now() / 1000),
  });
  const pipeline: Pipeline = {
    routes,
    tokens: createTokenValidator(loaded, issuers, {
      events: {
        onLookup: (issuer, hit) => metrics.introspectionLookups.inc({ issuer, cache: hit ? 'hit' : 'miss' }),
        onCall: (issuer, result) => metrics.introspectionCalls.inc({ issuer, result }),
      },
      previous: previous?.tokens,
    }),
    bindings: new SenderConstraintVerifier(dpop, c.server.public_origin, c.server.tls.client_ca_file !== undefined, nonces),
    replay: shared.replay.store,
    replayClock: shared.replayClock,
    forwarder: shared.forwarder,
    metadata: buildProtectedResourceMetadata(loaded, routes.routes),
    signatures:
      signingKeys === undefined ? undefined : new RequestSignatureVerifier(new ClientKeyring(signingKeys, new Map(clientJwks.map((k) => [k.clientId, k]))), c.http_signatures?.max_age_s ?? 60),
    responseSigner: buildResponseSigner(loaded),
    settings: {
      publicOrigin: c.server.public_origin,
      realm: c.server.realm ?? new URL(c.server.public_origin).host,
      dpopAlgs: c.dpop.algorithms,
      strictInteractionId: c.server.interaction_id === 'strict',
      strictFapiHeaders: c.server.fapi_headers === 'strict',
      maxCredentialBytes: c.server.limits.max_credential_bytes,
      maxHeaders: c.server.limits.max_headers,
      maxPipelined: c.server.limits.max_pipelined_requests,
      clientTrust: trust,
      forwardedCert: forwardedCertPolicy(loaded, trust),
      certificateRequired: c.server.tls.client_certificate === 'required',
      buffers: shared.buffers,
      forward: {
        names: c.identity_headers,
        maxDetailsBytes: c.server.limits.max_authorization_details_bytes,
        owned: ownedHeaderNames(c.identity_headers),
        publicHost: new URL(c.server.public_origin).host,
      },
    },
  };
  // Applied once the config serves: a refused reload leaves the budget and the store's size as they were.
  retime.push(() => shared.buffers.resize(bufferLimit(loaded)));
  // From now on, proofs may be accepted this far ahead: the DPOP-21 floors set later must allow for it.
  retime.push(() => shared.replayClock.setFutureAllowance(c.dpop.iat_future_s * 1000));
  const store = shared.replay.store;
  if (store instanceof MemoryReplayStore) retime.push(() => store.resize(c.replay.memory_max_entries));
  return { pipeline, dpop, issuerKeys, keyCacheKeys, clientJwks, retime };
}

/** SIG-2: the clients with a jwks_uri, each fetcher kept across reloads while its URL and CA are unchanged. */
function buildClientJwks(loaded: LoadedConfig, logger: Logger, metrics: Metrics, shared: Shared, keyCacheKeys: Set<string>, retime: (() => void)[]): ClientJwks[] {
  const section = loaded.config.http_signatures;
  if (section === undefined) return [];
  const f = section.client_jwks;
  const ca = f.ca_file === undefined ? [] : [readCaFile(loaded, f.ca_file, 'http_signatures.client_jwks.ca_file')];
  const out: ClientJwks[] = [];
  for (const [clientId, source] of Object.entries(section.clients)) {
    if (source.jwks_uri === undefined) continue;
    // Where the keys come from; the timings and limits are applied to kept keys (an outage must not
    // turn into 503s because a reload raised a timeout).
    const cacheKey = JSON.stringify(['client', clientId, source.jwks_uri, ca]);
    keyCacheKeys.add(cacheKey);
    const opts = { http: { ca, timeoutMs: f.http_timeout_ms, maxBytes: f.max_bytes }, refreshS: f.refresh_s, refetchCooldownS: f.refetch_cooldown_s };
    let keys = shared.clientJwks.get(cacheKey);
    if (keys !== undefined) {
      const kept = keys;
      retime.push(() => kept.configure(opts));
    } else {
      keys = new ClientJwks(clientId, source.jwks_uri, opts, {
        onFetch: (client, ok, detail) => {
          metrics.clientJwksFetches.inc({ client, result: ok ? 'ok' : 'error' });
          if (ok) logger.info({ client_id: client, detail }, 'client jwks fetched');
          else logger.warn({ client_id: client, detail }, 'client jwks fetch failed');
        },
      });
      shared.clientJwks.set(cacheKey, keys);
    }
    out.push(keys);
  }
  return out;
}

/** The upstream CAs (`ca_file` contents) the routes of a built config use. */
function upstreamCas(built: Built): ReadonlySet<string> {
  const cas = new Set<string>();
  for (const r of built.pipeline.routes.routes) if (r.upstream.ca !== undefined) cas.add(r.upstream.ca);
  return cas;
}

/** Every reload that changes an issuer's or client's key settings would otherwise leave its old key cache behind. */
function pruneKeyCaches(shared: Shared, serving: Built): void {
  for (const k of shared.issuerKeys.keys()) if (!serving.keyCacheKeys.has(k)) shared.issuerKeys.delete(k);
  for (const k of shared.clientJwks.keys()) if (!serving.keyCacheKeys.has(k)) shared.clientJwks.delete(k);
}

function forwardedCertPolicy(loaded: LoadedConfig, trust: ClientTrust): ForwardedCertPolicy | undefined {
  const f = loaded.config.server.forwarded_client_cert;
  if (f === undefined) return undefined;
  return new ForwardedCertPolicy({
    header: f.header,
    trustedPeers: f.trusted_peers,
    trustedPeerCertificates: f.trusted_peer_certificates,
    clientCas: trust.cas,
  });
}

function listen(server: Server, address: string): Promise<AddressInfo> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok(server.address() as AddressInfo);
    });
  });
}

/** `host:port` as in a URL (an IPv6 address in brackets). */
const hostPort = (a: AddressInfo): string => `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;

/** DPOP-21: why a worker of a cluster refuses the memory replay store (at a reload, or as a replacement). */
export const MEMORY_STORE_IN_CLUSTER = 'replay.store: memory while this process is one of several workers: each would keep its own store; restart to change it';

export async function startGateway(loaded: LoadedConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  // Before any outbound TLS: Node 24 crashes reading some peers' certificates (see peer-certificate.ts).
  guardPeerCertificates();
  const c = loaded.config;
  const logger = createLogger(c.logging.level, opts.logDestination);
  const metrics = createMetrics();
  const buffers = new BufferBudget(bufferLimit(loaded));
  const shared: Shared = {
    forwarder: new ProxyForwarder({ onResend: (route) => metrics.upstreamResends.inc({ route: route.id }), buffers }),
    buffers,
    replay: undefined,
    replayClock: new ReplayClock(c.dpop.iat_future_s * 1000),
    issuerKeys: new Map(),
    clientJwks: new Map(),
  };
  let current = { loaded, built: build(loaded, logger, metrics, shared) };
  /** Replay stores a reload replaced, closed 30 s later (or by close()). */
  const retiring = new Map<ReplayStore, NodeJS.Timeout>();
  const gateway = new Gateway(current.built.pipeline, logger, metrics);
  const api = createApiServer(loaded, gateway.handle, (info) => {
    // Requests Node's parser refused never reach the pipeline: counted and logged here.
    metrics.requests.inc({ route: '-', decision: 'deny', reason: info.reason, status: String(info.status) });
    logger.info({ interaction_id: info.interactionId, decision: 'deny', reason: info.reason, status: info.status, detail: info.detail, remote: info.remote }, 'deny');
  }, gateway.bodyRefused, (info) => {
    // No HTTP request, so no interaction id: the connection's line.
    metrics.tlsRefusals.inc({ reason: info.reason });
    logger.info({ reason: info.reason, detail: info.detail, remote: info.remote }, 'tls handshake refused');
  });
  const apiAddress = await listen(api, c.server.listen);
  let draining = false;
  // The replay store gates readiness until it has taken a write once (a wrong URL stops a rollout), not
  // after: every replica shares it, so an outage would make them all unready at once and take the
  // mTLS routes down with the DPoP ones, which fail closed by themselves (503). Nor does a reload's new
  // store: one ConfigMap reloads every replica at once, during an outage too.
  let storeReached = false;
  // The issuers' keys gate readiness until the first time it is ready, not after: a reload that adds an
  // issuer whose JWKS is not reachable yet would otherwise take every replica (one ConfigMap) out of the
  // Service at once, though only that issuer's routes fail (503 by themselves).
  let keysReached = false;
  const notReady = async (): Promise<string | undefined> => {
    if (draining) return 'draining';
    if (!keysReached) {
      const missing = current.built.issuerKeys.filter((k) => !k.ready);
      // A pod that is not ready gets no API traffic, which was what retried the fetch: the probe does.
      for (const k of missing) k.retryIfMissing();
      if (missing.length > 0) return `issuer(s) without keys: ${missing.map((k) => k.issuer).join(', ')}`;
      keysReached = true;
    }
    if (!storeReached) {
      const store = current.built.pipeline.replay;
      if (!(await store.ping())) return 'replay store not reached yet';
      // A store whose memory has just begun (this process's memory store, a Redis seen for the first
      // time) refuses every proof for iat_future_s (DPOP-21): no traffic until it would accept them.
      const acceptsFrom = trustedFromMs(store, shared.replayClock);
      const takesDpop = current.loaded.config.routes.some((r) => r.auth.binding === 'dpop' || r.auth.binding === 'any');
      if (takesDpop && Date.now() < acceptsFrom) {
        return `replay store remembers only from ${new Date(store.rememberedSinceMs).toISOString()}: DPoP proofs accepted from ${new Date(acceptsFrom).toISOString()}`;
      }
      storeReached = true;
    }
    return undefined;
  };
  let admin: Server | undefined;
  let adminAddress: AddressInfo | undefined;
  // In a cluster the primary serves the admin endpoints for every worker (see cluster.ts).
  if (c.admin !== undefined && opts.admin !== false) {
    admin = createAdminServer({ metrics: metrics.registry, notReady });
    try {
      adminAddress = await listen(admin, c.admin.listen);
    } catch (e) {
      // Never keep serving API traffic without the health and readiness endpoints: undo the start.
      api.closeAllConnections();
      await new Promise<void>((ok) => api.close(() => ok()));
      await shared.forwarder.close();
      await current.built.pipeline.replay.close();
      throw e;
    }
  }
  logger.info(
    { api: `https://${hostPort(apiAddress)}`, admin: adminAddress && `http://${hostPort(adminAddress)}` },
    'fapi-gateway listening',
  );
  // Warm every issuer's and client's keys so the first request does not pay for it (failures retry on
  // demand). Clients may be hundreds (a directory): a few fetches at a time.
  const warm = (b: Built): void => {
    for (const k of b.issuerKeys) if (!k.ready) k.refresh().catch(() => undefined);
    const cold = b.clientJwks.filter((k) => !k.ready);
    const next = async (): Promise<void> => {
      for (let k = cold.shift(); k !== undefined; k = cold.shift()) await k.refresh().catch(() => undefined);
    };
    for (let i = 0; i < Math.min(WARM_CLIENT_FETCHES, cold.length); i++) void next();
  };
  warm(current.built);

  return {
    gateway,
    apiAddress,
    adminAddress,
    logger,
    metrics,
    notReady,
    reload(next: LoadedConfig): void {
      const sharedReplay = shared.replay;
      try {
        // Against the config the process started with: a second reload does not make a pending restart go away.
        const started = loaded.config;
        const restartOnly = (['listen', 'workers'] as const).filter((k) => next.config.server[k] !== started.server[k]);
        if (JSON.stringify(next.config.admin) !== JSON.stringify(started.admin)) restartOnly.push('admin' as never);
        if (next.config.server.limits.handshake_timeout_ms !== started.server.limits.handshake_timeout_ms) {
          restartOnly.push('limits.handshake_timeout_ms' as never);
        }
        // With workers, the primary's kill deadline is built on the started value.
        if (next.config.server.drain_timeout_ms !== started.server.drain_timeout_ms) restartOnly.push('drain_timeout_ms' as never);
        // DPOP-21: the workers of a cluster share the Redis store; one of their own each would let a proof
        // used at one worker be used again at another (the start refuses it; `workers` needs a restart).
        if (cluster.isWorker && next.config.replay.store === 'memory') throw new Error(MEMORY_STORE_IN_CLUSTER);
        const previousStore = current.built.pipeline.replay;
        const built = build(next, logger, metrics, shared, current.built);
        // New certificates and TLS settings apply to new connections (certificate rotation).
        api.setSecureContext(tlsOptions(next));
        applyClientCertificatePolicy(api, next);
        applyServerLimits(api, next);
        const casChanged = built.pipeline.settings.clientTrust.id !== current.built.pipeline.settings.clientTrust.id;
        gateway.swap(built.pipeline);
        current = { loaded: next, built };
        // Other client CAs: connections close (busy ones after their response), so clients reconnect and
        // OpenSSL verifies them against the new ones (request-facts keeps a verdict when CAs were only
        // added; otherwise a request already on its way is judged again without the client's intermediates).
        if (casChanged) retireConnections(api);
        pruneKeyCaches(shared, built);
        for (const apply of built.retime) apply();
        shared.forwarder.retainUpstreamCas(upstreamCas(built));
        if (built.pipeline.replay !== previousStore) {
          // In-flight requests may still claim on the old store: close it a little later.
          const timer = setTimeout(() => {
            retiring.delete(previousStore);
            void previousStore.close();
          }, 30_000).unref();
          retiring.set(previousStore, timer);
        }
        logger.level = next.config.logging.level;
        metrics.configReloads.inc({ result: 'ok' });
        logger.info({ source: next.source, routes: built.pipeline.routes.routes.length, needs_restart: restartOnly }, 'config reloaded');
        warm(built);
      } catch (e) {
        // A refused config leaves nothing of its own behind: a replay store it built would otherwise be
        // taken for the running one by the next reload (an empty memory store forgets every used jti).
        if (shared.replay !== sharedReplay) {
          const stray = shared.replay;
          shared.replay = sharedReplay;
          void stray?.store.close();
        }
        pruneKeyCaches(shared, current.built);
        metrics.configReloads.inc({ result: 'error' });
        logger.error({ source: next.source, detail: (e as Error).message }, 'config reload refused; the previous config keeps serving');
        throw e;
      }
    },
    async close(deadlineMs = loaded.config.server.drain_timeout_ms) {
      draining = true;
      gateway.drain();
      // Stop accepting; idle keep-alive connections close now, busy ones after their response (Connection: close).
      const closed = new Promise<void>((ok) => api.close(() => ok()));
      api.closeIdleConnections();
      const timer = setTimeout(() => api.closeAllConnections(), deadlineMs);
      await closed;
      clearTimeout(timer);
      if (admin !== undefined) {
        admin.closeAllConnections();
        await new Promise<void>((ok) => admin.close(() => ok()));
      }
      await shared.forwarder.close();
      await shared.replay?.store.close();
      // Stores a reload replaced, still waiting out their in-flight claims: the process is going.
      for (const [store, timer] of retiring) {
        clearTimeout(timer);
        await store.close();
      }
      retiring.clear();
      await flushLogger(logger);
    },
  };
}
