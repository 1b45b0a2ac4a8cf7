// server.workers > 1: N processes share the API listener (node:cluster). The primary passes a stop on
// to the workers, serves the admin endpoints for all workers (metrics aggregated, ready only when every
// worker reports ready) and replaces a worker that dies after it started; one that cannot start stops all.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from './config/load.js';
import { createAdminServer } from './listen/admin-server.js';
import { startGateway, type RunningGateway } from './main.js';
import { ClusterMetrics, metricsAnswer, type MetricsAnswer, type MetricsRequest, type Peer } from './observe/cluster-metrics.js';

type Message = { type: 'ready'; why: string | undefined } | { type: 'reload' } | { type: 'stop' } | MetricsRequest | MetricsAnswer;

/** Workers report every second; a report older than this is a worker that stopped answering. */
const REPORT_STALE_MS = 3000;

export const workerCount = (loaded: LoadedConfig): number => {
  const w = loaded.config.server.workers;
  return w === 'auto' ? availableParallelism() : w;
};

/** In a worker: start the gateway without an admin listener and report readiness to the primary. */
export async function runWorker(loaded: LoadedConfig): Promise<RunningGateway> {
  const running = await startGateway(loaded, { admin: false });
  // Installed before the first readiness report: the primary asks only workers that have reported.
  process.on('message', (m: Message) => {
    if (m.type !== 'metrics-request') return;
    // The callback: a primary gone meanwhile is no uncaught 'error'.
    void metricsAnswer(running.metrics.registry, m.id).then((a) => process.send?.(a satisfies Message, undefined, undefined, () => undefined));
  });
  const report = (): void => {
    running.notReady().then((why) => process.send?.({ type: 'ready', why } satisfies Message), () => undefined);
  };
  report();
  setInterval(report, 1000).unref();
  return running;
}

export interface Primary {
  /** Ask every worker to reload its config file. */
  reload(): void;
  /** Forward a graceful stop and resolve when every worker has exited. */
  stop(): Promise<void>;
}

/**
 * `failedStart`: a worker exited before it ever reported (a port taken, a file missing): forking
 * again would fail the same way, forever, so the caller stops the others and exits non-zero.
 */
export async function runPrimary(loaded: LoadedConfig, log: (msg: string, extra?: object) => void, failedStart: () => void): Promise<Primary> {
  const n = workerCount(loaded);
  /** Each worker's last readiness report and when it came (undefined: none yet). */
  const ready = new Map<number, { why: string | undefined; at: number } | undefined>();
  let stopping = false;
  const scrape = new ClusterMetrics(() => peers(ready), log);
  const primary: Primary = {
    reload() {
      // A worker between 'disconnect' and 'exit' would make send() emit an unhandled 'error' (the primary dies).
      for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected() === true) w.send({ type: 'reload' } satisfies Message, undefined, () => undefined);
    },
    stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
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
      ).then(() => undefined);
    },
  };
  const fork = (): Worker => {
    const w = cluster.fork();
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
    scrape.gone(w.id);
    if (stopping) return;
    if (!reported && !started) {
      log('worker failed to start; stopping', { worker: w.id, code, signal });
      void primary.stop().then(failedStart);
      return;
    }
    // A replacement that cannot start (a config file edited into one that does not load) must not stop
    // the workers still serving: retry with a growing delay.
    retryMs = reported ? 0 : Math.min(Math.max(1000, retryMs * 2), 30_000);
    log(reported ? 'worker died; starting a new one' : 'replacement worker failed to start; retrying', { worker: w.id, code, signal, retry_ms: retryMs });
    setTimeout(() => {
      if (!stopping) fork();
    }, retryMs).unref();
  });
  for (let i = 0; i < n; i++) fork();
  if (loaded.config.admin !== undefined) {
    const admin = createAdminServer({
      metrics: scrape,
      notReady: async () => {
        if (stopping) return 'draining';
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
    const i = loaded.config.admin.listen.lastIndexOf(':');
    const host = loaded.config.admin.listen.slice(0, i).replace(/^\[|\]$/g, '');
    await new Promise<void>((ok, fail) => {
      admin.once('error', fail);
      admin.listen(Number(loaded.config.admin!.listen.slice(i + 1)), host, () => {
        admin.off('error', fail);
        ok();
      });
    });
  }
  log('primary started workers', { workers: n });
  return primary;
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
