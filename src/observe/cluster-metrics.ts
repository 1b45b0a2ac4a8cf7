// server.workers > 1: the primary's /metrics, the aggregate of what each worker answers over IPC. Not
// prom-client's clusterMetrics(): there one worker that does not answer (frozen, starting, just replaced)
// fails the whole scrape after 5 s, and a timed-out request stays in its map (for good if that worker
// exited). Here a scrape ends after a bound with the workers that did answer, and says how many did not.
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
  readonly answers: WorkerMetrics[];
  readonly missing: { worker: number; pid: number | undefined; why: string }[];
  readonly timer: NodeJS.Timeout;
  readonly done: (text: Promise<string>) => void;
}

export class ClusterMetrics {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly scrapes = new Map<number, Scrape>();
  private nextId = 0;

  constructor(
    private readonly peers: () => Peer[],
    private readonly log: (msg: string, extra?: object) => void,
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
      const scrape: Scrape = { waiting: new Map(), answers: [], missing: [], timer, done: resolve };
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
    scrape.answers.push(m.metrics);
    if (scrape.waiting.size === 0) this.finish(m.id);
  }

  /** A worker exited: no scrape waits for it any longer. */
  gone(worker: number): void {
    for (const id of [...this.scrapes.keys()]) this.drop(id, worker, 'exited');
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
    for (const p of scrape.waiting.values()) scrape.missing.push({ worker: p.id, pid: p.pid, why: 'no answer in time' });
    if (scrape.missing.length > 0) this.log('workers missing from the metrics scrape', { workers: scrape.missing, timeout_ms: this.timeoutMs });
    scrape.done(render(scrape.answers, scrape.missing.length));
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

/** In a worker: the answer to one request (an error is an answer too: the scrape need not wait for it). */
export async function metricsAnswer(registry: Registry, id: number): Promise<MetricsAnswer> {
  try {
    return { type: 'metrics', id, metrics: await registry.getMetricsAsJSON() };
  } catch (e) {
    return { type: 'metrics', id, error: (e as Error).message };
  }
}
