// Sustained load against a child gateway for a bounded time, sampling it every second: RSS, heap, open
// file descriptors, replay-store entries, requests, errors and p99 latency. mTLS (Bearer, certificate
// bound) and DPoP (a fresh proof per request, memory replay store) in parallel, plus a share of requests
// that must be refused (replayed proof, missing token) to keep the error paths warm. Loopback only; every
// loop is bounded by the deadline and by a request cap.
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { dpopKey, PUBLIC_ORIGIN, startChildGateway, startWorld } from './soak-world.js';

const MB = 1024 * 1024;

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function call(port, agent, method, path, headers) {
  return new Promise((ok) => {
    const t0 = performance.now();
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: 'api.test', ...headers }, agent, servername: 'localhost', timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => ok({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
        res.on('error', () => ok({ status: -1, ms: performance.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => ok({ status: -1, ms: performance.now() - t0 }));
    req.end();
  });
}

/**
 * Runs the soak. Options: seconds (load duration), concurrency (clients per kind), warmupS (heap
 * reference point), freshEvery (every Nth request of a client opens a new TLS connection), onSecond(row).
 * Resolves with the figures; never throws for gateway misbehaviour (that is in the figures).
 */
export async function runSoak(opts = {}) {
  const seconds = opts.seconds ?? 60;
  const concurrency = opts.concurrency ?? 4;
  const warmupS = Math.min(opts.warmupS ?? 3, Math.max(1, seconds - 1));
  const freshEvery = opts.freshEvery ?? 25;
  const maxRequests = opts.maxRequests ?? 5_000_000;
  const world = await startWorld({
    server: { limits: { keep_alive_timeout_ms: 1000 } },
  });
  const gw = await startChildGateway(world);
  const { ca, client } = world.pki;
  const mtlsToken = await world.issuer.mint({ cnf: { 'x5t#S256': client.x5tS256 } });
  const key = await dpopKey();
  const dpopToken = await world.issuer.mint({ cnf: { jkt: key.jkt } });

  const stats = { requests: 0, ok: 0, refusedAsExpected: 0, errors: 0, transportErrors: 0, statuses: {}, errorSamples: [] };
  let bucket = [];
  let stop = false;
  const agents = new Set();
  const record = (r, expected) => {
    stats.requests++;
    stats.statuses[r.status] = (stats.statuses[r.status] ?? 0) + 1;
    bucket.push(r.ms);
    if (r.status === expected) {
      if (expected === 200) stats.ok++;
      else stats.refusedAsExpected++;
      return;
    }
    stats.errors++;
    if (r.status === -1) stats.transportErrors++;
    if (stats.errorSamples.length < 10) stats.errorSamples.push({ status: r.status, expected });
  };

  // Warm every path once, let idle connections close, collect garbage: the baseline.
  const warmAgent = new Agent({ keepAlive: false, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  record(await call(gw.port, warmAgent, 'GET', '/accounts/warm', { authorization: `Bearer ${mtlsToken}` }), 200);
  record(await call(gw.port, warmAgent, 'GET', '/dpop/warm', { authorization: `DPoP ${dpopToken}`, dpop: await key.proof('GET', `${PUBLIC_ORIGIN}/dpop/warm`, dpopToken) }), 200);
  warmAgent.destroy();
  await sleep(2500);
  const baseline = await gw.gc();

  const mtlsClient = async (n) => {
    let agent;
    for (let i = 0; !stop && stats.requests < maxRequests; i++) {
      if (agent === undefined || i % freshEvery === 0) {
        agent?.destroy();
        agents.delete(agent);
        agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
        agents.add(agent);
      }
      // One in 20: no token at all (401 expected).
      const refused = i % 20 === 19;
      const r = await call(gw.port, agent, i % 2 ? 'POST' : 'GET', `/accounts/${n}/${i}`, refused ? {} : { authorization: `Bearer ${mtlsToken}` });
      record(r, refused ? 401 : 200);
    }
    agent?.destroy();
  };
  const dpopClient = async (n) => {
    let agent;
    let last;
    for (let i = 0; !stop && stats.requests < maxRequests; i++) {
      if (agent === undefined || i % freshEvery === 0) {
        agent?.destroy();
        agents.delete(agent);
        agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
        agents.add(agent);
      }
      const path = `/dpop/${n}/${i}`;
      // One in 20 replays the previous proof (401 invalid_dpop_proof expected).
      const replay = i % 20 === 19 && last !== undefined;
      const proof = replay ? last.proof : await key.proof('GET', `${PUBLIC_ORIGIN}${path}`, dpopToken);
      const r = await call(gw.port, agent, 'GET', replay ? last.path : path, { authorization: `DPoP ${dpopToken}`, dpop: proof });
      record(r, replay ? 401 : 200);
      last = { proof, path };
    }
    agent?.destroy();
  };

  const started = Date.now();
  const rows = [];
  let warm;
  const clients = [];
  for (let n = 0; n < concurrency; n++) clients.push(mtlsClient(n), dpopClient(n));
  const sampler = (async () => {
    for (let s = 1; s <= seconds; s++) {
      await sleep(Math.max(0, started + s * 1000 - Date.now()));
      const lat = bucket.sort((a, b) => a - b);
      bucket = [];
      const smp = s === warmupS ? await gw.gc() : await gw.sample();
      if (s === warmupS) warm = smp;
      const row = {
        t: s,
        rps: lat.length,
        p50Ms: Math.round(percentile(lat, 0.5) * 10) / 10,
        p99Ms: Math.round(percentile(lat, 0.99) * 10) / 10,
        errors: stats.errors,
        rssMB: Math.round((smp.rss / MB) * 10) / 10,
        heapMB: Math.round((smp.heapUsed / MB) * 10) / 10,
        heapTotalMB: Math.round((smp.heapTotal / MB) * 10) / 10,
        externalMB: Math.round((smp.external / MB) * 10) / 10,
        fds: smp.fds,
        replayEntries: smp.replayEntries,
        gc: s === warmupS,
      };
      rows.push(row);
      opts.onSecond?.(row);
    }
  })();
  await sampler;
  stop = true;
  await Promise.all(clients);
  for (const a of agents) a.destroy();
  const loadMs = Date.now() - started;

  // After the load: garbage collected, idle connections closed (keep-alive 1 s on both sides).
  const end = await gw.gc();
  let fdsEnd = end.fds;
  const settleStart = Date.now();
  while (fdsEnd > baseline.fds && Date.now() - settleStart < 6000) {
    await sleep(200);
    fdsEnd = (await gw.sample()).fds;
  }
  const fdSettleMs = Date.now() - settleStart;
  const after = await gw.gc();
  const upstreamOpen = world.upstream.open;
  const alive = gw.alive();
  await gw.close();
  await world.close();

  const all = rows.map((r) => r.p99Ms).sort((a, b) => a - b);
  return {
    seconds,
    loadMs,
    concurrency: { mtls: concurrency, dpop: concurrency },
    requests: stats.requests,
    ok: stats.ok,
    refusedAsExpected: stats.refusedAsExpected,
    errors: stats.errors,
    transportErrors: stats.transportErrors,
    errorSamples: stats.errorSamples,
    statuses: stats.statuses,
    rps: Math.round(stats.requests / (loadMs / 1000)),
    p99MsWorstSecond: all.at(-1) ?? 0,
    p99MsMedianSecond: percentile(all, 0.5),
    memory: {
      baselineHeapMB: Math.round((baseline.heapUsed / MB) * 10) / 10,
      warmHeapMB: Math.round(((warm ?? baseline).heapUsed / MB) * 10) / 10,
      endHeapMB: Math.round((after.heapUsed / MB) * 10) / 10,
      heapGrowthAfterWarmupMB: Math.round(((after.heapUsed - (warm ?? baseline).heapUsed) / MB) * 10) / 10,
      baselineRssMB: Math.round((baseline.rss / MB) * 10) / 10,
      baselineExternalMB: Math.round((baseline.external / MB) * 10) / 10,
      endExternalMB: Math.round((after.external / MB) * 10) / 10,
      endHeapTotalMB: Math.round((after.heapTotal / MB) * 10) / 10,
      baselineHeapTotalMB: Math.round((baseline.heapTotal / MB) * 10) / 10,
      endRssMB: Math.round((after.rss / MB) * 10) / 10,
      peakRssMB: Math.max(...rows.map((r) => r.rssMB)),
      replayEntriesEnd: after.replayEntries,
      replayEntriesWarm: warm?.replayEntries ?? null,
      gcAvailable: after.gcAvailable === true,
    },
    fds: { baseline: baseline.fds, peak: Math.max(...rows.map((r) => r.fds)), end: fdsEnd, settleMs: fdSettleMs },
    upstreamOpenAfter: upstreamOpen,
    gatewayAlive: alive,
    rows,
  };
}
