// Found in review (operations; no spec ID): with server.workers > 1, one worker that does not answer the primary's
// metrics request (frozen, starting, just replaced) made /metrics answer 500 after 5 s, and prom-client's
// clusterMetrics() never removed the request's entry. Now a scrape ends within SCRAPE_TIMEOUT_MS with the
// workers that answered, and fapi_gateway_cluster_workers_unanswered says how many did not.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ClusterMetrics, type MetricsRequest, type Peer, type WorkerMetrics } from '../../src/observe/cluster-metrics.js';
import { adminGet, cliFixtures, eventually, jsonLines } from '../support/cli.js';
import { request } from '../support/client.js';
import { cnfX5t, type TestIssuer } from '../support/issuer.js';
import type { PkiFiles, TestPki } from '../support/pki.js';
import { freePort, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import type { TestUpstream } from '../support/upstream.js';

let cliJs: string;
let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;

beforeAll(async () => {
  // The CLI runs compiled, as in production.
  ({ cliJs, pki, files, issuer, upstream } = await cliFixtures('dist-test-cluster-metrics'));
}, 120_000);
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const gauge = (text: string): number | undefined => {
  const m = /^fapi_gateway_cluster_workers_unanswered (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
};
const allowed = (text: string): number | undefined => {
  const m = /^fapi_gateway_requests_total\{route="a",decision="allow",reason="OK",status="200"\} (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
};

interface Cli {
  child: ChildProcess;
  lines: Record<string, any>[];
  api: string;
  admin: string;
  exited: Promise<number | null>;
}

/** The real CLI with two workers and the Redis replay store; resolves once /readyz is 200. */
async function startCluster(name: string): Promise<Cli> {
  const dir = join(files.dir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.yaml');
  const admin = `127.0.0.1:${await freePort()}`;
  writeFileSync(
    file,
    stringify({
      server: { listen: `127.0.0.1:${await freePort()}`, public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile }, workers: 2 },
      admin: { listen: admin },
      issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: upstream.url } }],
      replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix(name) } },
    }),
  );
  const child = spawn(process.execPath, [cliJs, '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL },
  });
  const lines = jsonLines(child.stdout!);
  child.stderr!.resume();
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  const cli = { child, lines, api: '', admin: `http://${admin}`, exited };
  try {
    await eventually(async () => lines.filter((l) => l.msg === 'fapi-gateway listening').length === 2, 20_000);
    cli.api = lines.find((l) => l.msg === 'fapi-gateway listening')!.api as string;
    await eventually(async () => (await adminGet(`${cli.admin}/readyz`).catch(() => ({ status: 0 }))).status === 200, 20_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return cli;
}

async function call(cli: Cli): Promise<number> {
  const token = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
  const r = await request(`${cli.api}/a/1`, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client1.certPem, key: pki.client1.keyPem, headers: [['Authorization', `Bearer ${token}`]] });
  return r.status;
}

type Served = [pid: number, allowed: number];

/** Sends batches until both workers have served some; returns each worker's pid and allowed requests. */
async function loadBothWorkers(cli: Cli): Promise<[Served, Served]> {
  let sent = 0;
  const perPid = () => {
    const m = new Map<number, number>();
    for (const l of cli.lines) if (l.msg === 'allow') m.set(l.pid, (m.get(l.pid) ?? 0) + 1);
    return m;
  };
  for (let round = 0; round < 10; round++) {
    const statuses = await Promise.all(Array.from({ length: 10 }, () => call(cli)));
    expect(statuses).toEqual(Array(10).fill(200));
    sent += 10;
    // Log lines are written in batches, at least once a second.
    await eventually(async () => [...perPid().values()].reduce((a, b) => a + b, 0) === sent);
    if (perPid().size === 2) return [...perPid().entries()] as [Served, Served];
  }
  throw new Error('the requests never reached both workers');
}

const stopCluster = async (cli: Cli | undefined, frozen: number | undefined): Promise<void> => {
  if (frozen !== undefined) {
    try {
      process.kill(frozen, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  cli?.child.kill('SIGKILL');
};

describe('operations: /metrics with server.workers: 2 when a worker does not answer', () => {
  it('one worker frozen (SIGSTOP): 200 within the bound with its last-reported counters and unanswered = 1, logged by pid; after SIGCONT both, unanswered = 0', async () => {
    let cli: Cli | undefined;
    let frozen: number | undefined;
    try {
      cli = await startCluster('cluster-metrics-frozen');
      const [[stuck, stuckCount], [other, otherCount]] = await loadBothWorkers(cli);
      const total = stuckCount + otherCount;
      const before = await adminGet(`${cli.admin}/metrics`);
      expect({ status: before.status, allowed: allowed(before.body), unanswered: gauge(before.body) }).toEqual({ status: 200, allowed: total, unanswered: 0 });

      frozen = stuck;
      process.kill(frozen, 'SIGSTOP');
      const during = await adminGet(`${cli.admin}/metrics`);
      // The frozen worker's counters as it last reported them: counters never go down (no reset in rate()).
      expect({ status: during.status, allowed: allowed(during.body), unanswered: gauge(during.body) }).toEqual({ status: 200, allowed: total, unanswered: 1 });
      // SCRAPE_TIMEOUT_MS (2.5 s) plus rendering: well under Prometheus' 10 s scrape timeout.
      expect(during.ms).toBeLessThan(3500);
      const missing = cli.lines.find((l) => l.msg === 'workers missing from the metrics scrape');
      expect(missing).toMatchObject({ role: 'primary', workers: [{ pid: stuck, why: 'no answer in time' }] });
      expect(other).not.toBe(stuck);

      process.kill(frozen, 'SIGCONT');
      frozen = undefined;
      // Its late answer to the scrape that ended is dropped; the next scrape has both again.
      const after = await adminGet(`${cli.admin}/metrics`);
      expect({ status: after.status, allowed: allowed(after.body), unanswered: gauge(after.body) }).toEqual({ status: 200, allowed: total, unanswered: 0 });
      expect(after.ms).toBeLessThan(2000);
      cli.child.kill('SIGTERM');
      expect(await Promise.race([cli.exited, sleep(15_000).then(() => 'still running')])).toBe(0);
    } finally {
      await stopCluster(cli, frozen);
    }
  }, 90_000);

  it('a worker that dies mid-scrape ends the scrape at once (unanswered = 1, "exited"); its replacement is scraped again', async () => {
    let cli: Cli | undefined;
    let frozen: number | undefined;
    try {
      cli = await startCluster('cluster-metrics-exit');
      const [[dying], [, otherCount]] = await loadBothWorkers(cli);
      frozen = dying;
      process.kill(frozen, 'SIGSTOP');
      const scrape = adminGet(`${cli.admin}/metrics`);
      await sleep(300);
      process.kill(frozen, 'SIGKILL');
      const during = await scrape;
      expect({ status: during.status, allowed: allowed(during.body), unanswered: gauge(during.body) }).toEqual({ status: 200, allowed: otherCount, unanswered: 1 });
      expect(during.ms).toBeLessThan(2000);
      expect(cli.lines.find((l) => l.msg === 'workers missing from the metrics scrape')).toMatchObject({ workers: [{ pid: dying, why: 'exited' }] });
      frozen = undefined;

      await eventually(async () => cli!.lines.some((l) => l.msg === 'worker died; starting a new one'));
      await eventually(async () => cli!.lines.filter((l) => l.msg === 'fapi-gateway listening').length === 3, 20_000);
      await eventually(async () => (await adminGet(`${cli!.admin}/readyz`)).status === 200, 20_000);
      const after = await adminGet(`${cli.admin}/metrics`);
      expect({ status: after.status, allowed: allowed(after.body), unanswered: gauge(after.body) }).toEqual({ status: 200, allowed: otherCount, unanswered: 0 });
    } finally {
      await stopCluster(cli, frozen);
    }
  }, 90_000);
});

describe('operations: the primary\'s metrics scrape keeps no request behind (ClusterMetrics)', () => {
  const json = (value: number): WorkerMetrics => [
    { name: 'fapi_gateway_test_total', help: 'test', type: 'counter', aggregator: 'sum', values: [{ value, labels: {} }] } as unknown as WorkerMetrics[number],
  ];
  const setup = (ids: number[], timeoutMs = 200) => {
    const sent: { worker: number; m: MetricsRequest }[] = [];
    const logs: object[] = [];
    const peers: Peer[] = ids.map((id) => ({ id, pid: 1000 + id, answers: true, send: (m) => void sent.push({ worker: id, m }) }));
    const scrape = new ClusterMetrics(() => peers, (_msg, extra) => void logs.push(extra ?? {}), timeoutMs);
    return { scrape, sent, logs, peers };
  };

  it('removes a scrape on its last answer, on its timeout and on a worker\'s exit; a late or repeated answer is ignored', async () => {
    const { scrape, sent, logs } = setup([1, 2]);
    const answered = scrape.metrics();
    expect(scrape.pending).toBe(1);
    for (const { worker, m } of sent) scrape.answer(worker, { type: 'metrics', id: m.id, metrics: json(worker) });
    expect(scrape.pending).toBe(0);
    const text = await answered;
    expect({ total: /fapi_gateway_test_total 3/.test(text), unanswered: gauge(text) }).toEqual({ total: true, unanswered: 0 });
    expect(logs).toEqual([]);

    sent.length = 0;
    const timedOut = scrape.metrics();
    scrape.answer(1, { type: 'metrics', id: sent[0]!.m.id, metrics: json(1) });
    const t0 = Date.now();
    const partial = await timedOut;
    expect(Date.now() - t0).toBeLessThan(1000);
    // Worker 2 is still running: its counters as it last reported them (2), so the sum does not go down.
    expect({ pending: scrape.pending, total: /fapi_gateway_test_total 3$/m.test(partial), unanswered: gauge(partial) }).toEqual({ pending: 0, total: true, unanswered: 1 });
    expect(logs).toEqual([{ workers: [{ worker: 2, pid: 1002, why: 'no answer in time' }], timeout_ms: 200 }]);
    // Late, and a repeat: nothing waits for them.
    scrape.answer(2, { type: 'metrics', id: sent[1]!.m.id, metrics: json(2) });
    scrape.answer(1, { type: 'metrics', id: sent[0]!.m.id, metrics: json(1) });
    expect(scrape.pending).toBe(0);

    sent.length = 0;
    logs.length = 0;
    const exited = scrape.metrics();
    scrape.gone(2);
    expect(scrape.pending).toBe(1);
    scrape.answer(1, { type: 'metrics', id: sent[0]!.m.id, error: 'collect failed' });
    expect(scrape.pending).toBe(0);
    expect(gauge(await exited)).toBe(2);
    expect(logs).toEqual([{ workers: [{ worker: 2, pid: 1002, why: 'exited' }, { worker: 1, pid: 1001, why: 'collect failed' }], timeout_ms: 200 }]);
  });

  it('does not wait for a worker still starting or one whose channel is closed', async () => {
    const peers: Peer[] = [
      { id: 1, pid: 1001, answers: false, send: () => expect.fail('a starting worker is not asked') },
      { id: 2, pid: 1002, answers: true, send: (_m, failed) => failed() },
    ];
    const logs: object[] = [];
    const scrape = new ClusterMetrics(() => peers, (_msg, extra) => void logs.push(extra ?? {}), 5000);
    const t0 = Date.now();
    const text = await scrape.metrics();
    expect({ ms: Date.now() - t0 < 500, pending: scrape.pending, unanswered: gauge(text) }).toEqual({ ms: true, pending: 0, unanswered: 2 });
    expect(logs).toEqual([{ workers: [{ worker: 1, pid: 1001, why: 'starting' }, { worker: 2, pid: 1002, why: 'not connected' }], timeout_ms: 5000 }]);
  });
});
