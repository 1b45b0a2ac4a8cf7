// The lean per-request collectors must expose exactly what prom-client's own Counter and Histogram
// would, in text and JSON, and aggregate the same way across cluster workers.
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../../src/observe/hot-metrics.js';

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
// Values on, between, below and above the bounds.
const VALUES = [0, 0.0005, 0.0007, 0.001, 0.003, 0.01, 0.0100001, 0.2, 1, 2.5, 4.9, 5, 5.1, 60];
const LABELS = [
  { route: 'mtls', decision: 'allow' },
  { route: 'dpop', decision: 'deny' },
  { route: 'we"ird\\id', decision: 'error' },
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  return {
    ours,
    theirs,
    hot: {
      h: new HotHistogram('t_seconds', 'help text', ['route', 'decision'], BOUNDS, ours),
      c: new HotCounter('t_total', 'count help', ['route', 'decision'], ours),
    },
    prom: {
      h: new Histogram({ name: 't_seconds', help: 'help text', labelNames: ['route', 'decision'], buckets: BOUNDS, registers: [theirs] }),
      c: new Counter({ name: 't_total', help: 'count help', labelNames: ['route', 'decision'], registers: [theirs] }),
    },
  };
}

function record(p: ReturnType<typeof pair>, values: readonly number[]): void {
  values.forEach((v, i) => {
    const labels = LABELS[i % LABELS.length]!;
    p.hot.h.observe(labels, v);
    p.prom.h.observe(labels, v);
    p.hot.c.inc(labels);
    p.prom.c.inc(labels);
  });
  // Through a kept child, as the gateway records stages.
  const child = p.hot.h.child(LABELS[0]!);
  for (const v of values) {
    child.observe(v);
    p.prom.h.observe(LABELS[0]!, v);
  }
}

describe('hot metrics (HDR-2 metrics on the request path) match prom-client', () => {
  it('the /metrics text is identical to prom-client Counter and Histogram for the same observations', async () => {
    const p = pair();
    record(p, VALUES);
    expect(await p.ours.metrics()).toBe(await p.theirs.metrics());
  });

  it('an unused collector exposes its HELP and TYPE lines only, like prom-client with labels', async () => {
    const p = pair();
    expect(await p.ours.metrics()).toBe(await p.theirs.metrics());
  });

  it('cluster aggregation (AggregatorRegistry) sums two workers the same way', async () => {
    const a = pair();
    const b = pair();
    record(a, VALUES);
    record(b, VALUES.slice(3));
    const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('reset() empties the series, as the registry does on resetMetrics()', async () => {
    const p = pair();
    record(p, VALUES);
    p.ours.resetMetrics();
    p.theirs.resetMetrics();
    expect(await p.ours.metrics()).toBe(await p.theirs.metrics());
  });
});
