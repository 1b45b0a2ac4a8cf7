// server.workers > 1: N processes share the API listener (node:cluster). The primary forwards signals,
// serves the admin endpoints for all workers (metrics aggregated, ready only when every worker is)
// and replaces a worker that dies unexpectedly.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import type { LoadedConfig } from './config/load.js';
import { createAdminServer } from './listen/admin-server.js';
import { startGateway, type RunningGateway } from './main.js';

type Message = { type: 'ready'; why: string | undefined } | { type: 'reload' };

export const workerCount = (loaded: LoadedConfig): number => {
  const w = loaded.config.server.workers;
  return w === 'auto' ? availableParallelism() : w;
};

/** In a worker: start the gateway without an admin listener and report readiness to the primary. */
export async function runWorker(loaded: LoadedConfig): Promise<RunningGateway> {
  const running = await startGateway(loaded, { admin: false });
  // Constructing one installs the worker's answer to the primary's metrics requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([running.metrics.registry]);
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

export async function runPrimary(loaded: LoadedConfig, log: (msg: string, extra?: object) => void): Promise<Primary> {
  const n = workerCount(loaded);
  const ready = new Map<number, string | undefined>();
  let stopping = false;
  const fork = (): Worker => {
    const w = cluster.fork();
    ready.set(w.id, 'starting');
    w.on('message', (m: Message) => {
      if (m.type === 'ready') ready.set(w.id, m.why);
    });
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    if (!stopping) {
      log('worker died; starting a new one', { worker: w.id, code, signal });
      fork();
    }
  });
  for (let i = 0; i < n; i++) fork();
  if (loaded.config.admin !== undefined) {
    const aggregator = new AggregatorRegistry();
    const admin = createAdminServer({
      metrics: { metrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType },
      notReady: async () => {
        if (stopping) return 'draining';
        if (ready.size < n) return `${ready.size}/${n} workers running`;
        const why = [...ready.values()].find((v) => v !== undefined);
        return why;
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
  return {
    reload() {
      for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'reload' } satisfies Message);
    },
    stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      return Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((ok) => {
              w.once('exit', () => ok());
              w.process.kill('SIGTERM');
            }),
        ),
      ).then(() => undefined);
    },
  };
}
