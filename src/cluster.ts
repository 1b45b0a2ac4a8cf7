// server.workers > 1: N processes share the API listener (node:cluster). The primary passes a stop on
// to the workers (killing one that does not exit by a deadline), serves the admin endpoints for all
// workers (metrics aggregated, ready only when every worker reports ready) and replaces a worker that
// dies or stops reporting after it started; one that cannot start stops all.
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from './config/load.js';
import type { GatewayConfig } from './config/schema.js';
import { createAdminServer } from './listen/admin-server.js';
import { MEMORY_STORE_IN_CLUSTER, startGateway, type RunningGateway } from './main.js';
import { ClusterMetrics, metricsAnswer, type MetricsAnswer, type MetricsRequest, type Peer } from './observe/cluster-metrics.js';

type Message = { type: 'ready'; why: string | undefined } | { type: 'reload' } | { type: 'stop' } | MetricsRequest | MetricsAnswer;

/** Workers report every second; a report older than this is a worker that stopped answering. */
const REPORT_STALE_MS = 3000;
/** Silent this long, a worker is hung (not slow: the report goes on while a readiness check waits) and is killed. */
const WORKER_SILENT_MS = 10_000;
/** After a worker's drain deadline (server.drain_timeout_ms): time to close Redis and flush its log. */
const STOP_MARGIN_MS = 5000;
/** The primary's restart-only settings, passed to every worker it forks. */
const PRIMARY_SETTINGS_ENV = 'FAPI_GATEWAY_PRIMARY_SETTINGS';

/** What a reload cannot change (main.ts reload() names them in needs_restart). */
interface RestartOnly {
  readonly listen: string;
  readonly workers: GatewayConfig['server']['workers'];
  readonly drain_timeout_ms: number;
  readonly admin: GatewayConfig['admin'];
  readonly handshake_timeout_ms: number;
}

const restartOnlySettings = ({ config: c }: LoadedConfig): RestartOnly => ({
  listen: c.server.listen,
  workers: c.server.workers,
  drain_timeout_ms: c.server.drain_timeout_ms,
  admin: c.admin,
  handshake_timeout_ms: c.server.limits.handshake_timeout_ms,
});

/**
 * In a worker: the config file as it is now, with the restart-only settings its primary started with,
 * so a replacement serves what the running workers serve (not a second port after an edited
 * `server.listen`). `differs`: the settings the file has changed, in needs_restart's words.
 */
export function withPrimarySettings(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): { loaded: LoadedConfig; differs: string[] } {
  const text = env[PRIMARY_SETTINGS_ENV];
  if (text === undefined) return { loaded, differs: [] };
  const p = JSON.parse(text) as RestartOnly;
  const c = loaded.config;
  // DPOP-21, as a reload refuses it: each worker would keep its own store.
  if (c.replay.store === 'memory') throw new Error(MEMORY_STORE_IN_CLUSTER);
  const file = restartOnlySettings(loaded);
  const differs = (['listen', 'workers', 'drain_timeout_ms', 'admin', 'handshake_timeout_ms'] as const)
    .filter((k) => JSON.stringify(file[k]) !== JSON.stringify(p[k]))
    .map((k) => (k === 'handshake_timeout_ms' ? 'limits.handshake_timeout_ms' : k));
  const limits = Object.freeze({ ...c.server.limits, handshake_timeout_ms: p.handshake_timeout_ms });
  const server = Object.freeze({ ...c.server, listen: p.listen, workers: p.workers, drain_timeout_ms: p.drain_timeout_ms, limits });
  return { loaded: Object.freeze({ ...loaded, config: Object.freeze({ ...c, server, admin: p.admin }) }), differs };
}

export const workerCount = (loaded: LoadedConfig): number => {
  const w = loaded.config.server.workers;
  return w === 'auto' ? availableParallelism() : w;
};

/** In a worker: start the gateway without an admin listener and report readiness to the primary. */
export async function runWorker(loaded: LoadedConfig): Promise<RunningGateway> {
  const running = await startGateway(loaded, { admin: false });
  // The callbacks: a primary gone meanwhile is no uncaught 'error' (EPIPE).
  const send = (m: Message): void => void process.send?.(m, undefined, undefined, () => undefined);
  // Installed before the first readiness report: the primary asks only workers that have reported.
  process.on('message', (m: Message) => {
    if (m.type !== 'metrics-request') return;
    void metricsAnswer(running.metrics.registry, m.id).then(send);
  });
  // The report is also the heartbeat the primary's watchdog watches: while a readiness check is slow
  // (a Redis command timing out), the last result goes again, so a slow dependency is no hung worker.
  let latest: { why: string | undefined } | undefined;
  let checking = false;
  const check = (): void => {
    checking = true;
    running
      .notReady()
      .then((why) => {
        latest = { why };
        send({ type: 'ready', why });
      }, () => undefined)
      .finally(() => (checking = false));
  };
  check();
  setInterval(() => {
    if (!checking) check();
    else if (latest !== undefined) send({ type: 'ready', why: latest.why });
  }, 1000).unref();
  return running;
}

export interface Primary {
  /** Ask every worker to reload its config file. */
  reload(): void;
  /**
   * Forward a graceful stop and resolve when every worker has exited: true, or false when one had to
   * be killed because it had not exited by the stop deadline.
   */
  stop(): Promise<boolean>;
}

/**
 * `failedStart`: a worker exited before it ever reported (a port taken, a file missing): forking
 * again would fail the same way, forever, so the caller stops the others and exits non-zero.
 */
/** The primary's log line writer; `warn` for what an operator should be alerted to (a worker killed or lost). */
export type PrimaryLog = (msg: string, extra?: object, level?: 'info' | 'warn' | 'fatal') => void;

export async function runPrimary(loaded: LoadedConfig, log: PrimaryLog, failedStart: () => void): Promise<Primary> {
  const n = workerCount(loaded);
  /** Each worker's last readiness report and when it came (undefined: none yet). */
  const ready = new Map<number, { why: string | undefined; at: number } | undefined>();
  let stopping = false;
  const stopDeadlineMs = loaded.config.server.drain_timeout_ms + STOP_MARGIN_MS;
  const scrape = new ClusterMetrics(() => peers(ready), log);
  const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
  // Before any worker exists: a taken admin port is the start's one error line, with no worker
  // booting behind it (one that loses its primary mid-start dies with an EPIPE stack trace).
  const admin = loaded.config.admin === undefined ? undefined : await listenAdmin(loaded.config.admin.listen, ready, n, () => stopping, scrape);
  const primary: Primary = {
    reload() {
      // A worker between 'disconnect' and 'exit' would make send() emit an unhandled 'error' (the primary dies).
      for (const w of live()) if (w.isConnected()) w.send({ type: 'reload' } satisfies Message, undefined, () => undefined);
    },
    stop() {
      stopping = true;
      const workers = live();
      // A worker that does not exit (hung, or stuck closing) must not keep the primary, and the
      // listening socket it holds, alive until an outside SIGKILL.
      let killed = false;
      const deadline = setTimeout(() => {
        for (const w of workers.filter((x) => !x.isDead())) {
          killed = true;
          log('worker did not stop by the deadline; killing it', { worker: w.id, pid: w.process.pid, deadline_ms: stopDeadlineMs }, 'warn');
          w.process.kill('SIGKILL');
        }
      }, stopDeadlineMs).unref();
      return Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((ok) => {
              w.once('exit', () => ok());
              // Over IPC, not a signal: a worker that already got the signal from its process group
              // (systemd, Ctrl-C) would take a second one as "exit now" and drop its requests. One
              // still starting listens to neither: SIGTERM ends it.
              if (ready.get(w.id) !== undefined && w.isConnected()) w.send({ type: 'stop' } satisfies Message, undefined, () => undefined);
              else w.process.kill('SIGTERM');
            }),
        ),
      ).then(() => {
        clearTimeout(deadline);
        return !killed;
      });
    },
  };
  // A replacement reads the config file as it is now: the restart-only settings stay those this
  // cluster started with (see withPrimarySettings).
  const env = { [PRIMARY_SETTINGS_ENV]: JSON.stringify(restartOnlySettings(loaded)) };
  // Workers start from a small entry that ignores SIGHUP before anything heavy loads (src/worker.ts),
  // unless the embedder chose another.
  if (cluster.settings.exec === undefined) cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)) });
  const fork = (): Worker => {
    const w = cluster.fork(env);
    ready.set(w.id, undefined);
    w.on('message', (m: Message) => {
      if (m.type === 'metrics') return scrape.answer(w.id, m);
      if (m.type !== 'ready') return;
      ready.set(w.id, { why: m.why, at: Date.now() });
      if (!started && ready.size === n && [...ready.values()].every((r) => r !== undefined)) started = true;
    });
    return w;
  };
  // Until every initial worker has reported once, a worker that exits without a report is a failed start.
  let started = false;
  let retryMs = 0;
  cluster.on('exit', (w, code, signal) => {
    const reported = ready.get(w.id) !== undefined;
    ready.delete(w.id);
    // What it counted stays in the aggregate: counters must not go down when a worker is replaced.
    scrape.gone(w.id);
    if (stopping) return;
    // A SIGHUP to the process group (a reload) that came before the worker's entry could ignore it.
    const hup = signal === 'SIGHUP' && !reported;
    if (!reported && !started && !hup) {
      log('worker failed to start; stopping', { worker: w.id, code, signal }, 'warn');
      void primary.stop().then(failedStart);
      return;
    }
    // A replacement that cannot start (a config file edited into one that does not load) must not stop
    // the workers still serving: retry with a growing delay.
    retryMs = reported || hup ? 0 : Math.min(Math.max(1000, retryMs * 2), 30_000);
    const why = reported ? 'worker died; starting a new one' : hup ? 'worker ended by SIGHUP while starting; starting a new one' : 'replacement worker failed to start; retrying';
    log(why, { worker: w.id, code, signal, retry_ms: retryMs }, 'warn');
    setTimeout(() => {
      if (!stopping) fork();
    }, retryMs).unref();
  });
  setInterval(() => {
    if (!stopping) killSilent(ready, log);
  }, 1000).unref();
  for (let i = 0; i < n; i++) fork();
  // The workers log their api address; the admin listener (probes, /metrics) is the primary's to name.
  log('primary started workers', { workers: n, ...(admin === undefined ? {} : { admin: `http://${admin.family === 'IPv6' ? `[${admin.address}]` : admin.address}:${admin.port}` }) });
  return primary;
}

/**
 * The watchdog: a worker that has reported but then fell silent (a synchronous loop, a wedged event
 * loop) would keep the pod unready for good while /livez stays 200. SIGKILL it; the 'exit' handler
 * forks its replacement. One still starting has never reported and is left alone.
 */
function killSilent(ready: ReadonlyMap<number, { at: number } | undefined>, log: PrimaryLog): void {
  const silent = (id: number): number | undefined => {
    const r = ready.get(id);
    const w = cluster.workers?.[id];
    const ms = r === undefined ? 0 : Date.now() - r.at;
    return ms <= WORKER_SILENT_MS || w === undefined || w.isDead() || w.process.killed ? undefined : ms;
  };
  for (const id of ready.keys()) {
    if (suspected.has(id) || silent(id) === undefined) continue;
    // Judged again after a pause: the primary itself may have been the one stuck (a log reader that
    // stalls blocks its writes as it blocks the workers'), with their reports waiting unread.
    suspected.add(id);
    setTimeout(() => {
      const ms = silent(id);
      const w = cluster.workers?.[id];
      if (ms === undefined || w === undefined) return void suspected.delete(id);
      const t0 = Date.now();
      log('worker not reporting', { worker: id, pid: w.process.pid, silent_ms: ms, limit_ms: WORKER_SILENT_MS }, 'warn');
      // That line blocked: the log reader stalls, and the workers' log writes block on it as this one
      // did (they slow down, they are not wedged). Judged again at the next round.
      if (Date.now() - t0 > LOG_STALL_MS) {
        log('log output stalled; worker not killed', { worker: id, pid: w.process.pid, stalled_ms: Date.now() - t0 }, 'warn');
        return void suspected.delete(id);
      }
      // Judged once more, once the reports a stall may have held up are read.
      setTimeout(() => {
        suspected.delete(id);
        const still = silent(id);
        if (still === undefined) return log('worker reporting again; not killed', { worker: id, pid: w.process.pid });
        log('worker not reporting; killing it', { worker: id, pid: w.process.pid, silent_ms: still, limit_ms: WORKER_SILENT_MS }, 'warn');
        w.process.kill('SIGKILL');
      }, SUSPECT_RECHECK_MS).unref();
    }, SUSPECT_RECHECK_MS).unref();
  }
}
/** Workers found silent once, waiting for the second look. */
const suspected = new Set<number>();
// More than the workers' report interval (1 s), so a report a stall held up is read in between.
const SUSPECT_RECHECK_MS = 1500;
/** A log line that took longer to write: the log reader is stalling. */
const LOG_STALL_MS = 250;

/** The admin endpoints for all workers: metrics aggregated, ready only when every worker reports ready. */
async function listenAdmin(
  listen: string,
  ready: ReadonlyMap<number, { why: string | undefined; at: number } | undefined>,
  n: number,
  stopping: () => boolean,
  metrics: ClusterMetrics,
): Promise<AddressInfo> {
  const admin = createAdminServer({
    metrics,
    notReady: async () => {
      if (stopping()) return 'draining';
      if (ready.size < n) return `${ready.size}/${n} workers running`;
      const now = Date.now();
      for (const [id, r] of ready) {
        if (r === undefined) return `worker ${id} starting`;
        if (now - r.at > REPORT_STALE_MS) return `worker ${id} not reporting for ${now - r.at} ms`;
        if (r.why !== undefined) return r.why;
      }
      return undefined;
    },
  });
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  await new Promise<void>((ok, fail) => {
    admin.once('error', fail);
    admin.listen(Number(listen.slice(i + 1)), host, () => {
      admin.off('error', fail);
      ok();
    });
  });
  return admin.address() as AddressInfo;
}

/** The live workers, as the metrics scrape sees them: one that has not reported yet is still starting. */
function peers(ready: ReadonlyMap<number, unknown>): Peer[] {
  return Object.values(cluster.workers ?? {})
    .filter((w): w is Worker => w !== undefined && !w.isDead())
    .map((w) => ({
      id: w.id,
      pid: w.process.pid,
      answers: ready.get(w.id) !== undefined,
      send: (m, failed) => {
        if (!w.isConnected()) return failed();
        w.send(m satisfies Message, undefined, (e: Error | null) => e && failed());
      },
    }));
}
