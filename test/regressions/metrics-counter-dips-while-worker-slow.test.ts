// Found in review (fixed; the test failed before): README "Logs and metrics" (Counters and histograms do not go down ...) and the rationale in
// src/observe/cluster-metrics.ts:5-6 ("a counter that went down when a worker is replaced would read as a
// reset to Prometheus (a spike of phantom requests in rate())").
// The bug was: a worker that is merely slow to answer one scrape (a long GC, a busy core on a 2-CPU pod, a
// blocked log write) is left out of that scrape entirely: render() sums only this scrape's answers plus
// the retired snapshot (src/observe/cluster-metrics.ts:113), although its last answer is kept in
// lastAnswers. Every counter drops by what that worker counted, then jumps back at the next scrape:
// Prometheus takes the drop for a counter reset, and increase()/rate() report the worker's whole
// lifetime count again as new requests (a phantom spike; an alert on 4xx/5xx rates fires).
// Fix: for a worker that did not answer in time, use its lastAnswers entry (still count it unanswered).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, freePort, gatewayConfig, killAll, killPid, loadBothWorkers, startCluster, uniquePrefix, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('workers-dip');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

const allowed = (text: string): number | undefined => {
  const m = /^fapi_gateway_requests_total\{route="a",decision="allow",reason="OK",status="200"\} (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
};

describe('server.workers: 2, /metrics while one worker is slow to answer', () => {
  it('fapi_gateway_requests_total does not go down (no counter reset seen by Prometheus)', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(w, 'dip', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('workers-dip') }));
    let p: Proc | undefined;
    let frozen: number | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const perPid = await loadBothWorkers(w, p, apiPort);
      const total = [...perPid.values()].reduce((a, b) => a + b, 0);
      const before = await adminGet(`http://127.0.0.1:${adminPort}/metrics`);
      expect(allowed(before.body)).toBe(total);
      // One worker does not answer within 2.5 s (SIGSTOP stands for a long pause).
      frozen = [...perPid.keys()][0]!;
      process.kill(frozen, 'SIGSTOP');
      const during = await adminGet(`http://127.0.0.1:${adminPort}/metrics`);
      process.kill(frozen, 'SIGCONT');
      const after = await adminGet(`http://127.0.0.1:${adminPort}/metrics`);
      // Prometheus sees: total, then during, then after. A counter must be monotonic across scrapes.
      expect([allowed(before.body), allowed(during.body), allowed(after.body)]).toEqual([total, total, total]);
    } finally {
      if (frozen !== undefined) {
        killPid(frozen, 'SIGCONT');
      }
      killAll();
    }
  }, 90_000);
});
