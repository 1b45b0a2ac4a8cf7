// server.workers > 1: the primary's /metrics, the aggregate of what each worker answers over IPC. Not
// prom-client's clusterMetrics(): there one worker that does not answer (frozen, starting, just replaced)
// fails the whole scrape after 5 s, and a timed-out request stays in its map (for good if that worker
// exited). Here a scrape ends after a bound with the workers that did answer, and says how many did not.
// What an exited worker had counted stays in the aggregate: a counter that went down when a worker is
// replaced would read as a reset to Prometheus (a spike of phantom requests in rate()).
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';

export type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
/** Primary to worker. */
export type MetricsRequest = { type: 'metrics-request'; id: number };
/** Worker to primary. */
export type MetricsAnswer = { type: 'metrics'; id: number; metrics: WorkerMetrics } | { type: 'metrics'; id: number; error: string };

/** Well under Prometheus' default 10 s scrape timeout. */
export const SCRAPE_TIMEOUT_MS = 2500;

export interface Peer {
  readonly id: number;
  readonly pid: number | undefined;
  /** false while it starts: its answer is not installed yet, so it is not asked (and counted as missing). */
  readonly answers: boolean;
  /** `failed`: the message could not be sent (its channel closed). */
  send(m: MetricsRequest, failed: () => void): void;
}

interface Scrape {
  /** Workers asked that have not answered yet. */
  readonly waiting: Map<number, Peer>;
  /** By worker: one that exits mid-scrape leaves its answer to the retired snapshot. */
  readonly answers: Map<number, WorkerMetrics>;
  readonly missing: { worker: number; pid: number | undefined; why: string }[];
  readonly timer: NodeJS.Timeout;
  readonly done: (text: Promise<string>) => void;
}

export class ClusterMetrics {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly scrapes = new Map<number, Scrape>();
  /** Each live worker's last answer: what it had counted when last asked. */
  private readonly lastAnswers = new Map<number, WorkerMetrics>();
  /** The counters and histograms of every exited worker, summed into one snapshot (bounded memory). */
  private retired: WorkerMetrics = [];
  private nextId = 0;

  constructor(
    private readonly peers: () => Peer[],
    private readonly log: (msg: string, extra?: object, level?: 'info' | 'warn') => void,
    private readonly timeoutMs = SCRAPE_TIMEOUT_MS,
  ) {}

  /** Scrapes in flight (each is removed on its last answer, its timeout, or its last worker's exit). */
  get pending(): number {
    return this.scrapes.size;
  }

  metrics(): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => this.finish(id), this.timeoutMs).unref();
      const scrape: Scrape = { waiting: new Map(), answers: new Map(), missing: [], timer, done: resolve };
      this.scrapes.set(id, scrape);
      for (const p of this.peers()) {
        if (!p.answers) scrape.missing.push({ worker: p.id, pid: p.pid, why: 'starting' });
        else scrape.waiting.set(p.id, p);
      }
      for (const p of [...scrape.waiting.values()]) p.send({ type: 'metrics-request', id }, () => this.drop(id, p.id, 'not connected'));
      if (scrape.waiting.size === 0) this.finish(id);
    });
  }

  /** A worker's answer. A late one (its scrape already ended) or a second one is ignored. */
  answer(worker: number, m: MetricsAnswer): void {
    const scrape = this.scrapes.get(m.id);
    if (scrape === undefined || !scrape.waiting.has(worker)) return;
    if ('error' in m) return this.drop(m.id, worker, m.error);
    scrape.waiting.delete(worker);
    scrape.answers.set(worker, m.metrics);
    this.lastAnswers.set(worker, m.metrics);
    if (scrape.waiting.size === 0) this.finish(m.id);
  }

  /** A worker exited: no scrape waits for it any longer, and its last answer joins the retired snapshot. */
  gone(worker: number): void {
    const last = this.lastAnswers.get(worker);
    this.lastAnswers.delete(worker);
    if (last !== undefined) this.retired = sumCumulative([this.retired, last]);
    for (const [id, scrape] of [...this.scrapes]) {
      // Counted once: a scrape it answered adds it through the retired snapshot.
      scrape.answers.delete(worker);
      this.drop(id, worker, 'exited');
    }
  }

  private drop(id: number, worker: number, why: string): void {
    const scrape = this.scrapes.get(id);
    const peer = scrape?.waiting.get(worker);
    if (scrape === undefined || peer === undefined) return;
    scrape.waiting.delete(worker);
    scrape.missing.push({ worker, pid: peer.pid, why });
    if (scrape.waiting.size === 0) this.finish(id);
  }

  /** Workers still waited for did not answer in time. Removes the scrape before anything can throw. */
  private finish(id: number): void {
    const scrape = this.scrapes.get(id);
    if (scrape === undefined) return;
    this.scrapes.delete(id);
    clearTimeout(scrape.timer);
    // A worker slow to answer is still running: its counters as it last reported them, or every counter
    // would drop by its share for one scrape and read as a reset (a phantom spike in rate()).
    const stale: WorkerMetrics[] = [];
    for (const p of scrape.waiting.values()) {
      scrape.missing.push({ worker: p.id, pid: p.pid, why: 'no answer in time' });
      const last = this.lastAnswers.get(p.id);
      if (last !== undefined) stale.push(sumCumulative([last]));
    }
    if (scrape.missing.length > 0) this.log('workers missing from the metrics scrape', { workers: scrape.missing, timeout_ms: this.timeoutMs }, 'warn');
    scrape.done(render([...scrape.answers.values(), ...stale, this.retired], scrape.missing.length));
  }
}

/** Async: a throw (an unknown aggregator) is the scrape's rejection, answered 500 by the admin server. */
async function render(answers: WorkerMetrics[], missing: number): Promise<string> {
  const registry = AggregatorRegistry.aggregate(answers);
  new Gauge({
    name: 'fapi_gateway_cluster_workers_unanswered',
    help: 'Workers whose metrics are missing from this scrape: no answer in time (busy, frozen), exited mid-scrape, or still starting',
    registers: [registry],
  }).set(missing);
  return registry.metrics();
}

/**
 * Counters and histograms summed by series. Not gauges (the state of a process, gone with it), nor
 * anything aggregated otherwise than by sum. Called from the exit handler: it never throws.
 */
function sumCumulative(snapshots: WorkerMetrics[]): WorkerMetrics {
  const byName = new Map<string, { metric: WorkerMetrics[number]; values: Map<string, WorkerMetrics[number]['values'][number]> }>();
  for (const m of snapshots.flat()) {
    const type = String(m.type); // prom-client types it as an enum it does not export
    if ((type !== 'counter' && type !== 'histogram') || m.aggregator !== 'sum') continue;
    const entry = byName.get(m.name) ?? { metric: m, values: new Map() };
    byName.set(m.name, entry);
    for (const v of m.values) {
      const key = JSON.stringify([(v as { metricName?: string }).metricName, Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : 1))]);
      const sum = entry.values.get(key);
      entry.values.set(key, { ...v, value: (sum?.value ?? 0) + v.value });
    }
  }
  return [...byName.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }));
}

/** In a worker: the answer to one request (an error is an answer too: the scrape need not wait for it). */
export async function metricsAnswer(registry: Registry, id: number): Promise<MetricsAnswer> {
  try {
    return { type: 'metrics', id, metrics: await registry.getMetricsAsJSON() };
  } catch (e) {
    return { type: 'metrics', id, error: (e as Error).message };
  }
}
