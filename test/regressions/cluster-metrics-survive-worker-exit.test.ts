// Found in review (fixed; the test failed before): server.workers: 2, a worker that dies and is replaced.
// The primary's /metrics was the sum of what the live workers answer, so the dead worker's counts vanished
// with it and fapi_gateway_requests_total went down. Prometheus reads any decrease of a counter as a reset
// and counts the whole new value as increase: phantom spikes in rate()/increase() (false error-rate
// alerts) on every worker crash. Now the primary keeps the last answer of an exited worker and adds its
// counters and histograms (not gauges) to every later scrape, folded into one retired snapshot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterMetrics, type MetricsRequest, type Peer, type WorkerMetrics } from '../../src/observe/cluster-metrics.js';
import { adminGet, eventually, freePort, gatewayConfig, killAll, loadBothWorkers, mtlsCall, readyz, startCluster, uniquePrefix, workerPids, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('replace');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

/** The sum of one series' samples in a scrape (0 when absent). */
const sample = (text: string, series: string): number => {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) n += Number(line.slice(series.length + 1));
  return n;
};
const allowedTotal = (text: string): number => sample(text, 'fapi_gateway_requests_total{route="a",decision="allow",reason="OK",status="200"}');
const durationCount = (text: string): number => sample(text, 'fapi_gateway_request_duration_seconds_count{route="a",decision="allow"}');

describe('a worker that crashes and is replaced (server.workers: 2)', () => {
  it('/metrics counters and histograms do not go backwards, and keep counting', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(w, 'metrics', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('review-metrics') }));
    let p: Proc | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const served = await loadBothWorkers(w, p, apiPort);
      const scrape = async (): Promise<string> => (await adminGet(`http://127.0.0.1:${adminPort}/metrics`)).body;
      const first = await scrape();
      const before = allowedTotal(first);
      expect(before).toBe([...served.values()].reduce((a, b) => a + b, 0));
      expect(durationCount(first)).toBe(before);
      const [victim] = [...served.keys()];
      process.kill(victim!, 'SIGKILL');
      const lp = p;
      await eventually(async () => workerPids(lp).length >= 3, 15_000);
      await eventually(async () => (await readyz(adminPort)) === 200, 15_000);
      const second = await scrape();
      // The victim's counts stay, once (the scrape it answered last is not added to them).
      expect({ requests: allowedTotal(second), durations: durationCount(second) }).toEqual({ requests: before, durations: before });
      expect(sample(second, 'fapi_gateway_cluster_workers_unanswered')).toBe(0);
      // And they add up with what the replacement counts.
      const replacement = workerPids(lp)[2]!;
      const allowLines = (): Record<string, any>[] => lp.lines.filter((l) => l.msg === 'allow' && l.route === 'a');
      let sent = 0;
      while (sent < 80 && !allowLines().some((l) => l.pid === replacement)) {
        expect((await Promise.all(Array.from({ length: 4 }, () => mtlsCall(w, apiPort)))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
        sent += 4;
        await eventually(async () => allowLines().length >= before + sent, 5000);
      }
      expect({ replacementServed: allowLines().some((l) => l.pid === replacement), total: allowedTotal(await scrape()) }).toEqual({ replacementServed: true, total: before + sent });
    } finally {
      killAll();
    }
  }, 60_000);
});

describe('ClusterMetrics: what exited workers counted', () => {
  const answer = (requests: number, inFlight: number): WorkerMetrics =>
    [
      { name: 'fapi_gateway_requests_total', help: 'r', type: 'counter', aggregator: 'sum', values: [{ value: requests, labels: { route: 'a' } }] },
      { name: 'fapi_gateway_in_flight', help: 'g', type: 'gauge', aggregator: 'sum', values: [{ value: inFlight, labels: {} }] },
    ] as unknown as WorkerMetrics;
  const setup = () => {
    const sent: { worker: number; m: MetricsRequest }[] = [];
    let live = [1, 2];
    const peers = (): Peer[] => live.map((id) => ({ id, pid: 1000 + id, answers: true, send: (m) => void sent.push({ worker: id, m }) }));
    const scrape = new ClusterMetrics(peers, () => undefined, 200);
    const round = async (values: Record<number, [number, number]>, exitMidScrape?: number): Promise<string> => {
      sent.length = 0;
      const text = scrape.metrics();
      // The one that exits answers first, so the scrape is still waiting for another when it exits.
      for (const { worker, m } of [...sent].sort((a, b) => Number(b.worker === exitMidScrape) - Number(a.worker === exitMidScrape))) {
        const v = values[worker];
        if (v !== undefined) scrape.answer(worker, { type: 'metrics', id: m.id, metrics: answer(...v) });
        if (worker === exitMidScrape) exit(worker);
      }
      return text;
    };
    const exit = (id: number): void => {
      live = live.filter((x) => x !== id);
      scrape.gone(id);
    };
    return { round, exit, join: (id: number) => void (live = [...live, id]) };
  };
  const requests = (text: string): string | undefined => /^fapi_gateway_requests_total\{route="a"\} (\d+)$/m.exec(text)?.[1];
  const inFlight = (text: string): string | undefined => /^fapi_gateway_in_flight (\d+)$/m.exec(text)?.[1];

  it('keeps counters (once, in one snapshot), not gauges, also for a worker that exits mid-scrape', async () => {
    const c = setup();
    expect(requests(await c.round({ 1: [5, 1], 2: [7, 1] }))).toBe('12');
    c.exit(2);
    const afterExit = await c.round({ 1: [6, 1] });
    expect({ requests: requests(afterExit), inFlight: inFlight(afterExit) }).toEqual({ requests: '13', inFlight: '1' });
    c.join(3);
    // Worker 3 answers, then exits before the scrape ends: its answer counts once.
    const midScrape = await c.round({ 1: [6, 1], 3: [4, 2] }, 3);
    expect({ requests: requests(midScrape), inFlight: inFlight(midScrape) }).toEqual({ requests: '17', inFlight: '1' });
    c.exit(1);
    expect(requests(await c.round({}))).toBe('17');
  });
});
