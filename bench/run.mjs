// `npm run bench`: end-to-end throughput, latency and CPU per request of the gateway against its ceiling
// (direct upstream), its floor (bare TLS passthrough) and the Express peer, on loopback. See bench/README.md.
//
// Layout (when `taskset` exists and two CPUs are allowed): the server under test on CPU 0; the load
// generator, the upstream, this orchestrator and the issuer on CPU 1. Every server runs all the time as
// its own child process; measurement windows go round-robin over the scenarios (warm-up first), each
// window with a fresh load-generator child whose connections are open before the clock (and the CPU
// counters) start. Then one pass at a common sub-saturation rate (CPU per request at equal load), the
// server.workers 1 -> 2 comparison, and with --profile, CPU profiles. Any non-2xx answer or transport
// error fails the run (exit 1); --check also exits 1 when a target is missed or unsettled.
//
//   node bench/run.mjs [--rounds 5] [--duration 5] [--warmup 2] [--connections 50] [--only a,b]
//                      [--check] [--profile] [--no-workers] [--out bench/results]
//   scenarios (--only): direct, bare, mtls, dpop-memory, dpop-redis, introspection, peer
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import {
  allowedCpus,
  cpuMicros,
  foreignPct,
  snapshot,
  freePort,
  pinSelf,
  pinningAvailable,
  procDetail,
  procDetailDelta,
  startNode,
  stopChild,
  syscalls,
  childPids,
  treeCpuMicros,
  waitMessage,
} from './lib/proc.mjs';
import { summariseProfile } from './lib/profile.mjs';
import { gatewayConfig as baseGatewayConfig, gatewayRoutes, requestsFor } from './lib/scenario.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const T_START = Date.now();
const HARD_LIMIT_MS = 15 * 60_000;

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    check: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-workers': { type: 'boolean', default: false },
    out: { type: 'string', default: join(HERE, 'results') },
    // Experiments: the gateway's logging level (info = one line per request, as deployed).
    'log-level': { type: 'string', default: 'info' },
    // A/B: another build of dist/ (a directory inside this checkout) measured next to this one.
    baseline: { type: 'string' },
  },
});
const ROUNDS = Math.max(1, Math.min(10, Number(opt.rounds)));
const DURATION_MS = Math.max(1000, Math.min(30_000, Number(opt.duration) * 1000));
const WARMUP_MS = Math.max(500, Math.min(30_000, Number(opt.warmup) * 1000));
const CONNECTIONS = Math.max(1, Math.min(500, Number(opt.connections)));
const OUT = resolve(opt.out);

// Never outlive a few minutes, whatever happens.
const hardTimer = setTimeout(() => {
  console.error(`bench: hard limit of ${HARD_LIMIT_MS / 60000} min reached; stopping`);
  void cleanup().finally(() => process.exit(3));
}, HARD_LIMIT_MS);
hardTimer.unref();

const log = (msg) => process.stderr.write(`[bench ${((Date.now() - T_START) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(2);
}

/** Warn when dist/ is older than src/: a stale build measures yesterday's code. */
function staleDist() {
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(f) : statSync(f).mtimeMs);
    }
    return t;
  };
  try {
    return newest(join(ROOT, 'src')) > statSync(join(ROOT, 'dist', 'main.js')).mtimeMs;
  } catch {
    return false;
  }
}
const STALE = staleDist();
if (STALE) log('WARNING: src/ has changes newer than dist/: run `npm run build` to bench the current code');

// ---- pinning --------------------------------------------------------------------------------

const MACHINE_CORES = availableParallelism();
const pin = pinningAvailable();
const SERVER_CPU = pin.ok ? 0 : undefined;
const CLIENT_CPU = pin.ok ? 1 : undefined;
if (pin.ok) pinSelf(CLIENT_CPU);
log(pin.ok ? 'pinning: servers under test on CPU 0; load generator, upstream, orchestrator on CPU 1' : `pinning unavailable (${pin.why}): nothing pinned`);

// ---- fixtures -------------------------------------------------------------------------------

const children = new Set();
let fx;
let tmp;

async function cleanup() {
  await Promise.all([...children].map((c) => stopChild(c).catch(() => undefined)));
  children.clear();
  await fx?.close().catch(() => undefined);
  if (fx?.files?.dir) rmSync(fx.files.dir, { recursive: true, force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

const { createFixtures, AUDIENCE } = await import('./lib/fixtures.mjs');
const { parseConfig } = await import('../dist/config/load.js');
fx = await createFixtures();
tmp = mkdtempSync(join(tmpdir(), 'fapi-bench-'));
const RUN_ID = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// ---- servers --------------------------------------------------------------------------------

async function startServer(name, file, { cpu, env = {}, args = [], nodeArgs = [] } = {}) {
  const child = startNode(join(HERE, 'servers', file), { cpu, env, args, nodeArgs });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const m = await waitMessage(child, (x) => x?.type === 'ready' || x?.type === 'error', 30_000, `${name} to start`);
  if (m.type === 'error') throw new Error(`${name} failed to start: ${m.message}`);
  return { name, child, pid: child.pid, port: m.port, cpu };
}

const gatewayConfig = (opts) => baseGatewayConfig(fx, { ...opts, logLevel: opt['log-level'] });

function writeConfig(name, cfg) {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(cfg));
  return file;
}

async function startGateway(name, cfg, { cpu = SERVER_CPU, env = {}, nodeArgs = [] } = {}) {
  const file = writeConfig(name, cfg);
  return startServer(name, 'gateway.mjs', { cpu, args: [file], env, nodeArgs });
}

// ---- Redis ----------------------------------------------------------------------------------

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
async function probeRedis() {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const info = await r.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1];
    // Local only if the pid is visible and listens here; otherwise its CPU is not ours to read.
    const local = Number.isFinite(pid) && existsSync(`/proc/${pid}/stat`);
    return { ok: true, pid: local ? pid : undefined, version, cpus: local ? allowedCpus(pid) : undefined };
  } catch (e) {
    return { ok: false, why: e.message };
  } finally {
    r.disconnect();
  }
}

/** Remove this run's replay keys (they would expire by themselves within ~6 minutes anyway). */
async function cleanRedisKeys(prefix) {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { connectTimeout: 1000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => undefined);
  let n = 0;
  try {
    let cursor = '0';
    let loops = 0;
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await r.unlink(...keys);
    } while (cursor !== '0' && ++loops < 10_000);
  } catch {
    // best effort
  } finally {
    r.disconnect();
  }
  return n;
}

// ---- requests -------------------------------------------------------------------------------

const { bearerRequest, dpopRequest, tlsTarget } = requestsFor(fx);

// ---- measurement ----------------------------------------------------------------------------

// Other work on this machine (other people's test runs, say) steals CPU from the server under test.
// Windows start when the machine is quiet (bounded wait) and are measured again when it was not.
const QUIET_PCT = 15;
const NOISY_PCT = 20;
let retryBudget = 8;
// The bench's own processes: this one, its children and theirs (cluster workers), and a local Redis.
const benchPids = () => {
  const pids = [process.pid, ...(redisInfo?.pid ? [redisInfo.pid] : [])];
  for (const c of children) pids.push(c.pid, ...(c.grandchildren ? childPids(c.pid) : []));
  return pids;
};

async function waitQuiet(maxMs = 2000) {
  const until = performance.now() + maxMs;
  let last = 0;
  while (performance.now() < until) {
    const a = snapshot(benchPids());
    await new Promise((r) => setTimeout(r, 300));
    last = foreignPct(a, snapshot(benchPids()));
    if (last < QUIET_PCT) return last;
  }
  return last;
}

/** A window, measured again (bounded) when other processes used a noticeable share of the machine. */
async function window(sc, durationMs, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const w = await windowOnce(sc, durationMs, opts);
    if (w.foreignPct < NOISY_PCT || opts.noRetry || attempt >= 1 || retryBudget <= 0) return { ...w, attempts: attempt + 1 };
    retryBudget--;
    log(`  ${sc.id}: ${w.foreignPct.toFixed(0)}% of a core used by other processes during the window; measuring again`);
  }
}

/**
 * One window: fresh load generator (pinned), connect, sample CPU, run, sample CPU.
 * For DPoP, `count` proofs are signed before the connections open.
 */
async function windowOnce(sc, durationMs, { count, rate } = {}) {
  const lg = startNode(join(HERE, 'lib', 'loadgen.mjs'), { cpu: CLIENT_CPU });
  children.add(lg);
  lg.once('exit', () => children.delete(lg));
  try {
    await waitMessage(lg, (m) => m?.type === 'ready', 10_000, 'load generator');
    const request = sc.dpop ? { kind: 'dpop', ...sc.request(), count } : { kind: 'fixed', text: sc.request() };
    lg.send({ type: 'init', target: sc.target(), connections: CONNECTIONS, request, rate });
    const conn = await waitMessage(lg, (m) => m?.type === 'connected' || m?.type === 'error', 60_000, 'connections');
    if (conn.type === 'error') throw new Error(`load generator: ${conn.message}`);
    await waitQuiet();
    const snap0 = snapshot(benchPids());
    const server0 = treeCpuMicros(sc.server().pid, sc.withChildren === true);
    const io0 = syscalls(sc.server().pid, sc.withChildren === true);
    const detail0 = sc.withChildren === true ? undefined : procDetail(sc.server().pid);
    const others0 = (sc.others?.() ?? []).map((o) => cpuMicros(o.pid));
    const t0 = performance.now();
    lg.send({ type: 'go', durationMs });
    const r = await waitMessage(lg, (m) => m?.type === 'done' || m?.type === 'error', durationMs + 20_000, 'results');
    const wallMs = performance.now() - t0;
    if (r.type === 'error') throw new Error(`load generator: ${r.message}`);
    const serverCpu = treeCpuMicros(sc.server().pid, sc.withChildren === true) - server0;
    const io1 = syscalls(sc.server().pid, sc.withChildren === true);
    const detail = detail0 === undefined ? undefined : procDetailDelta(detail0, procDetail(sc.server().pid));
    const foreign = foreignPct(snap0, snapshot(benchPids()));
    const othersCpu = (sc.others?.() ?? []).map((o, i) => ({ name: o.name, micros: cpuMicros(o.pid) - others0[i] }));
    return { ...r, serverCpuMicros: serverCpu, othersCpu, wallMs, prepMs: conn.prepMs, foreignPct: foreign, serverSyscalls: { r: io1.r - io0.r, w: io1.w - io0.w }, serverDetail: detail };
  } finally {
    await stopChild(lg, 1000);
  }
}

// Proof pools: 2.5x the best rate seen for any DPoP scenario so far (noise makes warm-up rates low), capped.
let bestDpopRate = 0;
const proofCount = (rate, ms) => {
  const r = Math.max(rate, bestDpopRate);
  return Math.min(400_000, Math.max(3000, Math.ceil(((r * ms) / 1000) * 2.5) + 1000));
};

function refusals(r) {
  return r.non2xx + r.errors;
}

// ---- scenarios ------------------------------------------------------------------------------

const servers = {};
const skipped = {};
const notes = [];

const SCENARIOS = [
  {
    id: 'direct',
    label: 'direct upstream (plain HTTP, ceiling)',
    server: () => servers.upstreamCeiling,
    target: () => ({ host: '127.0.0.1', port: servers.upstreamCeiling.port, tls: false }),
    request: () => bearerRequest('/mtls/accounts/123', fx.tokens.mtls),
  },
  {
    id: 'bare',
    label: 'bare TLS passthrough (http-proxy-3, no checks)',
    server: () => servers.bare,
    target: () => tlsTarget(servers.bare.port, true),
    request: () => bearerRequest('/mtls/accounts/123', fx.tokens.mtls),
    others: () => [servers.upstream],
  },
  {
    id: 'mtls',
    label: 'gateway, mTLS-bound JWT',
    gateway: true,
    server: () => servers.gwMemory,
    target: () => tlsTarget(servers.gwMemory.port, true),
    request: () => bearerRequest('/mtls/accounts/123', fx.tokens.mtls),
    others: () => [servers.upstream],
  },
  {
    id: 'dpop-memory',
    label: 'gateway, DPoP-bound JWT, memory replay store',
    gateway: true,
    dpop: true,
    server: () => servers.gwMemory,
    target: () => tlsTarget(servers.gwMemory.port, false),
    request: () => dpopRequest('/dpop/accounts/123', fx.tokens.dpop),
    others: () => [servers.upstream],
  },
  {
    id: 'dpop-redis',
    label: 'gateway, DPoP-bound JWT, Redis replay store',
    gateway: true,
    dpop: true,
    server: () => servers.gwRedis,
    target: () => tlsTarget(servers.gwRedis.port, false),
    request: () => dpopRequest('/dpop/accounts/123', fx.tokens.dpop),
    others: () => [servers.upstream, ...(redisInfo?.pid ? [{ name: 'redis', pid: redisInfo.pid }] : [])],
  },
  {
    id: 'introspection',
    label: 'gateway, introspected opaque token (mTLS-bound, cache warm)',
    gateway: true,
    server: () => servers.gwIntrospect,
    target: () => tlsTarget(servers.gwIntrospect.port, true),
    request: () => bearerRequest('/opaque/accounts/123', fx.tokens.opaque),
    others: () => [servers.upstream],
  },
  {
    id: 'peer',
    label: 'peer: Express + express-oauth2-jwt-bearer (DPoP) + http-proxy-middleware',
    dpop: true,
    server: () => servers.peer,
    target: () => tlsTarget(servers.peer.port, false),
    request: () => dpopRequest('/dpop/accounts/123', fx.tokens.dpop),
    others: () => [servers.upstream],
  },
];
// --baseline DIR: the same mTLS and DPoP routes on another build, round-robin with this one, so a change
// to the hot path is judged against its parent in one run (figures drift between runs on shared machines).
const BASELINE_DIST = opt.baseline === undefined ? undefined : resolve(opt.baseline);
if (BASELINE_DIST !== undefined) {
  if (!existsSync(join(BASELINE_DIST, 'main.js'))) throw new Error(`--baseline ${opt.baseline}: no main.js there (build it first)`);
  for (const id of ['mtls', 'dpop-memory']) {
    const base = SCENARIOS.find((x) => x.id === id);
    SCENARIOS.push({
      ...base,
      id: id === 'mtls' ? 'mtls-baseline' : 'dpop-baseline',
      label: `${base.label}, baseline build (${opt.baseline})`,
      server: () => servers.gwBaseline,
      target: () => tlsTarget(servers.gwBaseline.port, !base.dpop),
    });
  }
}
for (const s of SCENARIOS) {
  s.others ??= () => [];
}
const only = opt.only?.split(',').map((s) => s.trim());
const active = SCENARIOS.filter((s) => only === undefined || only.includes(s.id));

let redisInfo;

function gitCommit() {
  try {
    const head = readFileSync(join(ROOT, '.git', 'HEAD'), 'utf8').trim();
    const ref = head.startsWith('ref: ') ? readFileSync(join(ROOT, '.git', head.slice(5)), 'utf8').trim() : head;
    return ref.slice(0, 12);
  } catch {
    return undefined;
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

async function startAll() {
  const need = new Set(active.map((s) => s.id));
  servers.upstream = { ...(await startServer('upstream', 'upstream.mjs', { cpu: CLIENT_CPU })), name: 'upstream' };
  const upstreamUrl = `http://127.0.0.1:${servers.upstream.port}`;
  if (need.has('direct')) servers.upstreamCeiling = await startServer('upstream (ceiling)', 'upstream.mjs', { cpu: SERVER_CPU });
  if (need.has('bare')) {
    servers.bare = await startServer('bare proxy', 'bare-proxy.mjs', {
      cpu: SERVER_CPU,
      env: { BENCH_SERVER_CONFIG: JSON.stringify({ upstream: upstreamUrl, certFile: fx.files.serverCertFile, keyFile: fx.files.serverKeyFile }) },
    });
  }
  if (need.has('mtls') || need.has('dpop-memory')) {
    servers.gwMemory = await startGateway('gateway-memory', gatewayConfig({ routes: gatewayRoutes(upstreamUrl) }));
  }
  if (need.has('mtls-baseline') || need.has('dpop-baseline')) {
    servers.gwBaseline = await startGateway('gateway-baseline', gatewayConfig({ routes: gatewayRoutes(upstreamUrl) }), { env: { BENCH_DIST: BASELINE_DIST } });
  }
  if (need.has('dpop-redis')) {
    redisInfo = await probeRedis();
    if (!redisInfo.ok) {
      skipped['dpop-redis'] = `skipped: Redis not reachable at ${REDIS_URL} (${redisInfo.why})`;
    } else {
      const prefix = `fapi:bench:${RUN_ID}:`;
      redisInfo.prefix = prefix;
      servers.gwRedis = await startGateway(
        'gateway-redis',
        gatewayConfig({
          routes: gatewayRoutes(upstreamUrl),
          replay: { store: 'redis', redis: { url_env: 'BENCH_REDIS_URL', key_prefix: prefix } },
        }),
        { env: { BENCH_REDIS_URL: REDIS_URL } },
      );
    }
  }
  if (need.has('introspection')) {
    const cfg = gatewayConfig({
      issuers: {
        main: { issuer: fx.issuer.issuer, jwks_uri: fx.issuer.jwksUri, ca_file: fx.files.caFile },
        opaque: {
          issuer: fx.introspection.origin,
          token_format: 'opaque',
          jwks_uri: fx.issuer.jwksUri,
          ca_file: fx.files.caFile,
          introspection: {
            endpoint: `${fx.introspection.origin}/introspect`,
            client_id: 'fapi-gateway',
            auth: 'tls_client_auth',
            cert_file: fx.files.client2CertFile,
            key_file: fx.files.client2KeyFile,
          },
        },
      },
      routes: [
        ...gatewayRoutes(upstreamUrl),
        {
          id: 'opaque',
          match: { methods: ['GET'], path_prefix: '/opaque' },
          auth: { issuers: ['opaque'], audience: AUDIENCE, binding: 'mtls', scopes: { all_of: ['accounts'] } },
          upstream: { url: upstreamUrl, timeout_ms: 10_000 },
        },
      ],
    });
    let accepted = true;
    try {
      parseConfig(stringify(cfg), '<inline>', {});
    } catch (e) {
      accepted = false;
      skipped.introspection = `skipped: introspection not available (config refused: ${String(e.message).split('\n').slice(1, 3).join(' ').trim()})`;
    }
    if (accepted) {
      try {
        servers.gwIntrospect = await startGateway('gateway-introspection', cfg);
      } catch (e) {
        skipped.introspection = `skipped: introspection not available (gateway did not start: ${e.message})`;
      }
    }
  }
  if (need.has('peer')) {
    servers.peer = await startServer('peer', 'peer.mjs', {
      cpu: SERVER_CPU,
      env: {
        NODE_EXTRA_CA_CERTS: fx.files.caFile,
        BENCH_SERVER_CONFIG: JSON.stringify({
          issuer: fx.issuer.issuer,
          jwksUri: fx.issuer.jwksUri,
          audience: AUDIENCE,
          upstream: upstreamUrl,
          certFile: fx.files.serverCertFile,
          keyFile: fx.files.serverKeyFile,
        }),
      },
    });
  }
}

// ---- workers scaling ------------------------------------------------------------------------

async function workersScaling() {
  const schema = readFileSync(join(ROOT, 'dist', 'config', 'schema.js'), 'utf8');
  if (!/\bworkers\b/.test(schema) || !existsSync(join(ROOT, 'dist', 'cluster.js'))) {
    return { skipped: 'skipped: server.workers is not in the config schema yet' };
  }
  if (!redisInfo?.ok) return { skipped: 'skipped: server.workers > 1 needs the Redis replay store, and Redis is not reachable' };
  const upstreamUrl = `http://127.0.0.1:${servers.upstream.port}`;
  const rows = [];
  for (const workers of [1, 2]) {
    const port = await freePort();
    const cfg = gatewayConfig({
      routes: gatewayRoutes(upstreamUrl),
      replay: { store: 'redis', redis: { url_env: 'BENCH_REDIS_URL', key_prefix: redisInfo.prefix } },
    });
    cfg.server.listen = `127.0.0.1:${port}`;
    cfg.server.workers = workers;
    try {
      parseConfig(stringify(cfg), '<inline>', { BENCH_REDIS_URL: REDIS_URL });
    } catch (e) {
      return { skipped: `skipped: the config refuses server.workers: ${String(e.message).split('\n')[1]?.trim()}` };
    }
    const file = writeConfig(`gateway-workers-${workers}`, cfg);
    // The real CLI (cluster primary + workers); unpinned: with two workers it needs both CPUs.
    const child = startNode(join(ROOT, 'bin', 'fapi-gateway.js'), { args: ['--config', file], env: { BENCH_REDIS_URL: REDIS_URL }, ipc: false, stderr: 'pipe' });
    child.grandchildren = true;
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    try {
      await waitListening(port, 15_000, child);
      const srv = { name: `gateway x${workers}`, pid: child.pid, port };
      const sc = {
        id: `workers-${workers}`,
        dpop: true,
        withChildren: true,
        server: () => srv,
        target: () => tlsTarget(port, false),
        request: () => dpopRequest('/dpop/accounts/123', fx.tokens.dpop),
        others: () => [servers.upstream, ...(redisInfo?.pid ? [{ name: 'redis', pid: redisInfo.pid }] : [])],
      };
      const w = await window(sc, WARMUP_MS, { count: proofCount(10_000, WARMUP_MS) });
      if (refusals(w) > 0) throw new Error(`refused during warm-up: ${w.samples.join(' | ')}`);
      const ms = Math.min(DURATION_MS, 4000);
      const r = await window(sc, ms, { count: proofCount(w.rps, ms) });
      if (refusals(r) > 0) throw new Error(`refused: ${r.samples.join(' | ')}`);
      rows.push({ workers, rps: r.rps, p50: r.p50, p99: r.p99, cpuPerReq: r.serverCpuMicros / r.completed, cpuPct: (100 * r.serverCpuMicros) / 1000 / r.wallMs });
    } catch (e) {
      return { skipped: `failed with workers=${workers}: ${e.message} ${stderr.trim().split('\n').slice(-3).join(' ')}`.trim() };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  return { rows, scaling: rows[1].rps / rows[0].rps };
}

async function waitListening(port, timeoutMs, child) {
  const { connect } = await import('node:net');
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const ok = await new Promise((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) {
      await new Promise((r) => setTimeout(r, 1500)); // let every worker fetch its keys
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('did not listen in time');
}

// ---- profile --------------------------------------------------------------------------------

async function profileRoute(kind) {
  const dir = join(OUT, 'profiles', kind);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.cpuprofile')) rmSync(join(dir, f));
  const upstreamUrl = `http://127.0.0.1:${servers.upstream.port}`;
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '250'];
  const gw =
    kind === 'bare'
      ? await startServer('bare proxy (profiled)', 'bare-proxy.mjs', {
          cpu: SERVER_CPU,
          nodeArgs,
          env: { BENCH_SERVER_CONFIG: JSON.stringify({ upstream: upstreamUrl, certFile: fx.files.serverCertFile, keyFile: fx.files.serverKeyFile }) },
        })
      : await startGateway(`gateway-profile-${kind}`, gatewayConfig({ routes: gatewayRoutes(upstreamUrl) }), { nodeArgs });
  const sc =
    kind === 'dpop'
      ? { id: 'profile-dpop', dpop: true, server: () => gw, target: () => tlsTarget(gw.port, false), request: () => dpopRequest('/dpop/accounts/123', fx.tokens.dpop) }
      : { id: `profile-${kind}`, server: () => gw, target: () => tlsTarget(gw.port, true), request: () => bearerRequest('/mtls/accounts/123', fx.tokens.mtls) };
  // No re-runs here: every request the profile saw must be counted.
  const w = await window(sc, WARMUP_MS, { count: proofCount(10_000, WARMUP_MS), noRetry: true });
  const r = await window(sc, DURATION_MS, { count: proofCount(w.rps, DURATION_MS), noRetry: true });
  await stopChild(gw.child, 10_000);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) return { skipped: 'no profile written' };
  const requests = w.completed + r.completed;
  return { file: join('profiles', kind, file), rps: r.rps, requests, foreignPct: Math.max(w.foreignPct, r.foreignPct), ...summariseProfile(join(dir, file), 25, requests) };
}

// ---- main -----------------------------------------------------------------------------------

/** Linear-interpolated quantile (numpy's default), q in [0, 1]. */
function quantile(xs, q) {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

function median(xs) {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const verify = await (async () => {
    const c = startNode(join(HERE, 'lib', 'verify-cost.mjs'), { cpu: SERVER_CPU });
    children.add(c);
    try {
      return await waitMessage(c, (m) => m?.es256VerifyMicros !== undefined, 20_000, 'verify cost');
    } finally {
      await stopChild(c, 1000);
    }
  })();
  log(`one ES256 proof signature verification: ${verify.es256VerifyMicros.toFixed(1)} µs CPU (CPU 0; DER ${verify.ways.der.toFixed(1)}, ieee-p1363 ${verify.ways.p1363.toFixed(1)})`);

  await startAll();
  const runnable = active.filter((s) => skipped[s.id] === undefined);
  for (const s of active) if (skipped[s.id]) log(`${s.id}: ${skipped[s.id]}`);
  log(`servers up: ${Object.entries(servers).map(([k, v]) => `${k}=${v.pid}`).join(' ')}`);

  const results = Object.fromEntries(runnable.map((s) => [s.id, { windows: [], warmup: undefined }]));
  const failures = [];
  // Warm-up: JIT, key caches, keep-alive pools; also the rate estimate that sizes the DPoP proof pools.
  for (const s of runnable) {
    const w = await window(s, WARMUP_MS, { count: s.dpop ? proofCount(8000, WARMUP_MS) : undefined, noRetry: true });
    results[s.id].warmup = w;
    if (s.dpop && s.id !== 'peer') bestDpopRate = Math.max(bestDpopRate, w.rps);
    log(`warm-up ${s.id}: ${w.rps.toFixed(0)} req/s, ${refusals(w)} refused`);
    if (refusals(w) > 0) failures.push(`${s.id}: ${refusals(w)} refused during warm-up: ${w.samples.join(' | ')}`);
  }
  if (failures.length > 0) {
    for (const f of failures) log(`FAIL ${f}`);
    throw new Error('requests were refused during warm-up; not measuring');
  }
  // Compared pairs run next to each other, and every other round runs backwards, so the slow drifts of
  // this machine's speed (a VM: up to +-30 % over tens of seconds) hit both sides of a ratio alike.
  const RUN_ORDER = ['direct', 'bare', 'mtls', 'introspection', 'peer', 'dpop-memory', 'dpop-redis'];
  const ordered = [...runnable].sort((a, b) => RUN_ORDER.indexOf(a.id) - RUN_ORDER.indexOf(b.id));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of round % 2 === 1 ? ordered : [...ordered].reverse()) {
      const rate = Math.max(results[s.id].warmup.rps, ...results[s.id].windows.map((w) => w.rps));
      const w = await window(s, DURATION_MS, { count: s.dpop ? (s.id === 'peer' ? Math.ceil(rate * (DURATION_MS / 1000) * 2.5) + 2000 : proofCount(rate, DURATION_MS)) : undefined });
      results[s.id].windows.push(w);
      if (s.dpop && s.id !== 'peer') bestDpopRate = Math.max(bestDpopRate, w.rps);
      log(
        `round ${round}/${ROUNDS} ${s.id.padEnd(13)} ${w.rps.toFixed(0).padStart(6)} req/s  p50 ${w.p50.toFixed(2)} ms  p99 ${w.p99.toFixed(2)} ms  ` +
          `${(w.serverCpuMicros / w.completed).toFixed(1)} µs CPU/req  foreign ${w.foreignPct.toFixed(0)}%  server ${((100 * w.serverCpuMicros) / 1000 / w.wallMs).toFixed(0)}% loadgen ${((100 * w.loadgenCpuMicros) / 1000 / w.elapsedMs).toFixed(0)}% CPU${w.exhausted ? '  (proof pool exhausted early)' : ''}${refusals(w) ? `  REFUSED ${refusals(w)}` : ''}`,
      );
      if (refusals(w) > 0) failures.push(`${s.id} round ${round}: ${w.non2xx} non-2xx, ${w.errors} errors: ${w.samples.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  const rows = {};
  for (const s of runnable) {
    const ws = results[s.id].windows;
    const completed = ws.reduce((a, w) => a + w.completed, 0);
    const others = {};
    for (const w of ws) for (const o of w.othersCpu) others[o.name] = (others[o.name] ?? 0) + o.micros;
    const rps = ws.map((w) => w.rps);
    rows[s.id] = {
      id: s.id,
      label: s.label,
      rps: median(rps),
      rpsMean: rps.reduce((a, b) => a + b, 0) / rps.length,
      foreignPct: median(ws.map((w) => w.foreignPct)),
      remeasured: ws.reduce((a, w) => a + w.attempts - 1, 0),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: median(ws.map((w) => w.p50)),
      p99: median(ws.map((w) => w.p99)),
      cpuPerReq: ws.reduce((a, w) => a + w.serverCpuMicros, 0) / completed,
      cpuPct: (100 * ws.reduce((a, w) => a + w.serverCpuMicros, 0)) / 1000 / ws.reduce((a, w) => a + w.wallMs, 0),
      othersPerReq: Object.fromEntries(Object.entries(others).map(([k, v]) => [k, v / completed])),
      loadgenCpuPct: (100 * ws.reduce((a, w) => a + w.loadgenCpuMicros, 0)) / 1000 / ws.reduce((a, w) => a + w.elapsedMs, 0),
      requests: completed,
      syscallsPerReq: {
        read: ws.reduce((a, w) => a + w.serverSyscalls.r, 0) / completed,
        write: ws.reduce((a, w) => a + w.serverSyscalls.w, 0) / completed,
      },
      detailPerReq: ws.every((w) => w.serverDetail !== undefined)
        ? Object.fromEntries(Object.keys(ws[0].serverDetail).map((k) => [k, ws.reduce((a, w) => a + w.serverDetail[k], 0) / completed]))
        : undefined,
      refused: ws.reduce((a, w) => a + refusals(w), 0),
      exhausted: ws.some((w) => w.exhausted),
      rounds: ws.map((w) => ({ rps: w.rps, p50: w.p50, p99: w.p99, cpuPerReq: w.serverCpuMicros / w.completed, completed: w.completed, foreignPct: w.foreignPct, attempts: w.attempts })),
    };
  }

  // CPU per request at one common, sub-saturation rate: at saturation a slower server also pays more
  // per request for wake-ups and smaller batches (visible in the upstream's own CPU/req), which would
  // blur the comparison of what each server does per request.
  let equalRate;
  const eqIds = ['bare', 'mtls', 'dpop-memory', 'dpop-redis', 'peer'].filter((id) => rows[id] !== undefined);
  if (eqIds.length >= 2) {
    const rate = Math.max(100, Math.floor((0.7 * Math.min(...eqIds.map((id) => rows[id].rps))) / 50) * 50);
    log(`equal-rate pass: every scenario at ${rate} req/s ...`);
    equalRate = { rate, rows: {} };
    for (const s of runnable) {
      if (!eqIds.includes(s.id)) continue;
      const ms = Math.min(DURATION_MS, 3000);
      const w = await window(s, ms, { rate, count: s.dpop ? Math.ceil((rate * ms) / 1000 * 1.5) + 1000 : undefined });
      if (refusals(w) > 0) failures.push(`${s.id} equal-rate: ${w.non2xx} non-2xx, ${w.errors} errors: ${w.samples.join(' | ')}`);
      const others = Object.fromEntries(w.othersCpu.map((o) => [o.name, o.micros / w.completed]));
      equalRate.rows[s.id] = { rps: w.rps, p50: w.p50, p99: w.p99, cpuPerReq: w.serverCpuMicros / w.completed, othersPerReq: others, foreignPct: w.foreignPct };
      log(`  ${s.id.padEnd(13)} ${w.rps.toFixed(0)} req/s  ${(w.serverCpuMicros / w.completed).toFixed(1)} µs CPU/req  p50 ${w.p50.toFixed(2)} ms  foreign ${w.foreignPct.toFixed(0)}%`);
    }
  }

  let workers;
  if (!opt['no-workers'] && only === undefined) {
    log('workers scaling (server.workers 1 -> 2, DPoP Redis route, unpinned) ...');
    workers = await workersScaling();
    log(workers.skipped ?? `workers: 1 -> ${workers.rows[0].rps.toFixed(0)} req/s, 2 -> ${workers.rows[1].rps.toFixed(0)} req/s (x${workers.scaling.toFixed(2)})`);
  }

  let profile;
  if (opt.profile) {
    log('profiling (--cpu-prof): the gateway on the DPoP memory route and the mTLS route, and the bare proxy ...');
    profile = { dpop: await profileRoute('dpop'), mtls: await profileRoute('mtls'), bare: await profileRoute('bare') };
  }

  if (redisInfo?.prefix) {
    const n = await cleanRedisKeys(redisInfo.prefix);
    log(`removed ${n} replay keys with prefix ${redisInfo.prefix}`);
  }

  const targets = evaluateTargets(rows, verify.es256VerifyMicros, equalRate);
  const machine = {
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    cores: MACHINE_CORES,
    node: process.version,
    date: new Date().toISOString(),
    pinning: pin.ok ? 'servers under test on CPU 0 (taskset -c 0); load generator, upstream, orchestrator on CPU 1' : `none (${pin.why})`,
    redis: redisInfo?.ok
      ? `${REDIS_URL} (redis ${redisInfo.version}${redisInfo.pid ? `, pid ${redisInfo.pid}, CPUs ${redisInfo.cpus.join(',')}${redisInfo.cpus.length > 1 ? ': not pinned, not started by the bench' : ''}` : ''})`
      : redisInfo === undefined
        ? 'not used'
        : `unreachable (${redisInfo.why})`,
    params: { rounds: ROUNDS, durationS: DURATION_MS / 1000, warmupS: WARMUP_MS / 1000, connections: CONNECTIONS, gatewayLogLevel: opt['log-level'] },
    peer: `express ${pkgVersion('express')}, express-oauth2-jwt-bearer ${pkgVersion('express-oauth2-jwt-bearer')}, http-proxy-middleware ${pkgVersion('http-proxy-middleware')}`,
    gatewayVersion: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
    commit: gitCommit(),
    staleDist: STALE,
  };
  const report = { machine, es256VerifyMicros: verify.es256VerifyMicros, es256VerifyWays: verify.ways, scenarios: rows, equalRate, skipped, targets, workers, profile, introspectionCalls: fx.introspection.calls, failures, notes };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report);
  writeFileSync(join(OUT, 'latest.md'), md);
  process.stdout.write(`\n${md}\n`);
  return report;
}

// ---- targets and report ---------------------------------------------------------------------

function evaluateTargets(r, verifyMicros, eq) {
  const t = [];
  // Each ratio is taken within a round (both sides measured a few seconds apart), then the median over
  // the rounds is compared with the target: robust to this machine's slow speed drifts.
  const add = (name, a, b, factor, cmp, unit, pick, fmt = (x) => x.toFixed(0), extraB = 0) => {
    if (a === undefined || b === undefined) {
      t.push({ name, status: 'n/a', detail: 'scenario not measured' });
      return;
    }
    const n = Math.min(a.rounds.length, b.rounds.length);
    const per = Array.from({ length: n }, (_, i) => pick(a.rounds[i]) / (pick(b.rounds[i]) + extraB));
    // Rounds where other processes took a noisy share of the machine on either side (after the one re-run).
    const busy = Array.from({ length: n }, (_, i) => Math.max(a.rounds[i].foreignPct ?? 0, b.rounds[i].foreignPct ?? 0) >= NOISY_PCT).filter(Boolean).length;
    const ratio = median(per);
    const pass = cmp === '>=' ? ratio >= factor : ratio <= factor;
    // The middle half of the rounds on both sides of the target: the verdict is noise, not a result.
    const [q1, q3] = [quantile(per, 0.25), quantile(per, 0.75)];
    const straddles = q1 < factor && factor < q3;
    // Most rounds shared the machine with other work: neither a pass nor a miss can be read from them.
    const machineBusy = busy > n / 2;
    const unsettled = straddles || machineBusy;
    const av = pick(a);
    const bv = pick(b) + extraB;
    t.push({
      name,
      status: unsettled ? 'unsettled' : pass ? 'pass' : 'FAIL',
      ratio,
      perRound: per,
      detail:
        `x${ratio.toFixed(2)} (median of per-round ratios ${per.map((x) => x.toFixed(2)).join(', ')}) ${cmp} x${factor}; medians ${fmt(av)} vs ${fmt(bv)} ${unit}` +
        (straddles ? `; the middle half of the rounds (x${q1.toFixed(2)}-x${q3.toFixed(2)}) straddles the target: rerun with more --rounds on a quieter machine` : '') +
        (machineBusy ? `; other processes used >= ${NOISY_PCT}% of a core in ${busy} of ${n} rounds: rerun on a quieter machine` : ''),
    });
  };
  const rps = (x) => x.rps;
  add('DPoP memory >= 3x peer req/s', r['dpop-memory'], r.peer, 3, '>=', 'req/s', rps);
  add('DPoP Redis >= 0.9x DPoP memory req/s', r['dpop-redis'], r['dpop-memory'], 0.9, '>=', 'req/s', rps);
  add('mTLS >= 0.8x bare passthrough req/s', r.mtls, r.bare, 0.8, '>=', 'req/s', rps);
  add('introspection (warm) >= 0.8x mTLS req/s', r.introspection, r.mtls, 0.8, '>=', 'req/s', rps);
  add(`gateway mTLS p99 <= 2x bare p99 (${CONNECTIONS} connections)`, r.mtls, r.bare, 2, '<=', 'ms', (x) => x.p99, (x) => x.toFixed(2));
  // CPU: asserted on the equal-rate pass when there is one (same load on both sides), else on the rounds.
  const e = eq?.rows;
  if (e?.['dpop-memory'] !== undefined && e?.bare !== undefined) {
    const a = e['dpop-memory'].cpuPerReq;
    const b = verifyMicros + e.bare.cpuPerReq;
    const busy = Math.max(e['dpop-memory'].foreignPct ?? 0, e.bare.foreignPct ?? 0);
    t.push({
      name: `DPoP CPU/req <= 1.3x (one ES256 verify + bare forwarding CPU/req), at ${eq.rate} req/s`,
      status: busy >= NOISY_PCT ? 'unsettled' : a <= 1.3 * b ? 'pass' : 'FAIL',
      ratio: a / b,
      detail:
        `x${(a / b).toFixed(2)}: ${a.toFixed(1)} µs vs ${verifyMicros.toFixed(1)} + ${e.bare.cpuPerReq.toFixed(1)} = ${b.toFixed(1)} µs (bound ${(1.3 * b).toFixed(1)} µs)` +
        (busy >= NOISY_PCT ? `; other processes used ${busy.toFixed(0)}% of a core during these windows: rerun on a quieter machine` : ''),
    });
  }
  add(
    `DPoP CPU/req <= 1.3x (one ES256 verify + bare forwarding CPU/req), saturated${e?.['dpop-memory'] !== undefined ? ' (information only)' : ''}`,
    r['dpop-memory'],
    r.bare,
    1.3,
    '<=',
    'µs',
    (x) => x.cpuPerReq,
    (x) => x.toFixed(1),
    verifyMicros,
  );
  if (e?.['dpop-memory'] !== undefined) {
    const last = t[t.length - 1];
    if (last.status !== 'n/a') last.status = `info (${last.status})`;
  }
  return t;
}

function markdown(rep) {
  const r = rep.scenarios;
  const direct = r.direct?.rps;
  const bare = r.bare?.rps;
  const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
  const ratio = (a, b) => (a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}` : '—');
  const lines = [];
  const m = rep.machine;
  lines.push('# fapi-gateway benchmark', '');
  lines.push(`- Date: ${m.date}`);
  lines.push(`- Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; fapi-gateway ${m.gatewayVersion}${m.commit ? ` (HEAD ${m.commit}, plus any uncommitted work in the tree)` : ''}${m.staleDist ? '; WARNING: dist/ was older than src/' : ''}`);
  lines.push(`- Pinning: ${m.pinning}`);
  lines.push(`- Load: ${m.params.connections} keep-alive connections, closed loop; warm-up ${m.params.warmupS} s per scenario, then ${m.params.rounds} rounds x ${m.params.durationS} s, round-robin over the scenarios`);
  lines.push(`- Redis: ${m.redis}`);
  if (m.params.gatewayLogLevel !== 'info') lines.push(`- EXPERIMENT: gateway logging.level ${m.params.gatewayLogLevel} (deployed default: info, one line per request)`);
  lines.push(`- Peer: ${m.peer}`);
  lines.push(
    `- One ES256 proof signature verification (node:crypto, imported key, CPU 0): ${f1(rep.es256VerifyMicros)} µs CPU, the cheaper of a DER signature (${f1(rep.es256VerifyWays?.der)} µs, what the gateway passes) and {dsaEncoding: 'ieee-p1363'} (${f1(rep.es256VerifyWays?.p1363)} µs)`,
  );
  lines.push('');
  lines.push('| # | scenario | req/s | min–max | x direct | x bare | p50 ms | p99 ms | server CPU µs/req | server CPU % | upstream (+redis) CPU µs/req | server read+write syscalls/req | other load % | requests | refused |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  SCENARIOS.forEach((s, i) => {
    if (active.indexOf(s) === -1) return;
    const x = r[s.id];
    if (x === undefined) {
      lines.push(`| ${i + 1} | ${s.label} | ${rep.skipped[s.id] ?? 'not run'} | | | | | | | | | | | | |`);
      return;
    }
    const others = Object.entries(x.othersPerReq)
      .map(([k, v]) => `${k} ${f1(v)}`)
      .join(', ');
    lines.push(
      `| ${i + 1} | ${s.label} | ${f0(x.rps)} | ${f0(x.rpsMin)}–${f0(x.rpsMax)} | ${ratio(x.rps, direct)} | ${ratio(x.rps, bare)} | ${f2(x.p50)} | ${f2(x.p99)} | ${f1(x.cpuPerReq)} | ${f0(x.cpuPct)} | ${others || '—'} | ${f1(x.syscallsPerReq.read)} + ${f1(x.syscallsPerReq.write)} | ${f0(x.foreignPct)}${x.remeasured ? ` (${x.remeasured} re-run)` : ''} | ${x.requests} | ${x.refused} |`,
    );
  });
  lines.push('');
  lines.push('req/s: median of the rounds (min–max shown). p50/p99: median of the rounds\' percentiles.');
  lines.push('other load %: CPU used on the machine by processes outside the bench during the windows (median, % of one core, from /proc/stat minus the bench\'s own processes). Windows start when it is below ' + QUIET_PCT + '% (bounded wait) and are measured again (once, at most 8 times per run) when it was ' + NOISY_PCT + '% or more.');
  lines.push('');
  lines.push('Server CPU: utime+stime of the server-under-test process from /proc/<pid>/stat over the measured windows, divided by the requests completed in them. "server CPU %" near 100 means the server saturated its core; well below 100 means the bottleneck was elsewhere (load generator, upstream).');
  lines.push('');
  if (SCENARIOS.some((s) => r[s.id]?.detailPerReq !== undefined)) {
    lines.push('Where the server CPU went, per request (same windows; /proc/<pid>/task/*: the main thread\'s user and system time, V8/libuv helper threads, minor page faults, voluntary / involuntary context switches of all threads):', '');
    lines.push('| # | scenario | user µs | sys µs | helper threads µs | minor faults | voluntary cs | involuntary cs |', '|---|---|---:|---:|---:|---:|---:|---:|');
    SCENARIOS.forEach((s, i) => {
      const d = r[s.id]?.detailPerReq;
      if (d === undefined) return;
      lines.push(`| ${i + 1} | ${s.label} | ${f1(d.userMicros)} | ${f1(d.sysMicros)} | ${f1(d.helperMicros)} | ${f2(d.minflt)} | ${f2(d.vcsw)} | ${f2(d.nvcsw)} |`);
    });
    lines.push('');
  }
  if (rep.equalRate !== undefined) {
    const e = rep.equalRate;
    lines.push(`## CPU per request at one common rate (${e.rate} req/s, below every server's saturation)`, '');
    lines.push('At saturation a slower server also pays more per request for wake-ups and smaller batches (the upstream\'s own CPU/req rises the same way), so per-request work is compared here at equal load.', '');
    lines.push('| # | scenario | req/s | p50 ms | p99 ms | server CPU µs/req | x bare | upstream (+redis) CPU µs/req | other load % |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
    SCENARIOS.forEach((s, i) => {
      const x = e.rows[s.id];
      if (x === undefined) return;
      const others = Object.entries(x.othersPerReq).map(([k, v]) => `${k} ${f1(v)}`).join(', ');
      lines.push(`| ${i + 1} | ${s.label} | ${f0(x.rps)} | ${f2(x.p50)} | ${f2(x.p99)} | ${f1(x.cpuPerReq)} | ${ratio(x.cpuPerReq, e.rows.bare?.cpuPerReq)} | ${others || '—'} | ${f0(x.foreignPct)} |`);
    });
    lines.push('');
  }
  lines.push('## Targets (asserted with `--check`)', '');
  lines.push('| target | result | detail |', '|---|---|---|');
  for (const t of rep.targets) lines.push(`| ${t.name} | ${t.status} | ${t.detail} |`);
  lines.push('');
  if (rep.workers !== undefined) {
    lines.push('## server.workers scaling (DPoP Redis route, gateway processes unpinned)', '');
    if (rep.workers.skipped) lines.push(rep.workers.skipped);
    else {
      lines.push('| workers | req/s | p50 ms | p99 ms | gateway CPU µs/req (all processes) | gateway CPU % (of one core) |', '|---:|---:|---:|---:|---:|---:|');
      for (const w of rep.workers.rows) lines.push(`| ${w.workers} | ${f0(w.rps)} | ${f2(w.p50)} | ${f2(w.p99)} | ${f1(w.cpuPerReq)} | ${f0(w.cpuPct)} |`);
      lines.push('', `Scaling 1 -> 2 workers: x${rep.workers.scaling.toFixed(2)}. On this 2-core machine the load generator, the upstream and Redis share the same two cores, so x2 is out of reach by construction.`);
    }
    lines.push('');
  }
  if (rep.profile?.dpop?.areas && rep.profile?.mtls?.areas && rep.profile?.bare?.areas) {
    const P = rep.profile;
    lines.push('## Where the CPU goes: self time by area, µs per request (profiled runs, 250 µs sampling)', '');
    lines.push(`Profiled throughput: bare ${f0(P.bare.rps)}, gateway mTLS ${f0(P.mtls.rps)}, gateway DPoP ${f0(P.dpop.rps)} req/s (other load up to ${f0(Math.max(P.bare.foreignPct, P.mtls.foreignPct, P.dpop.foreignPct))}% of a core). Totals include process start-up and the profiler's overhead, so they run higher than the table above; compare rows, not totals.`, '');
    const keys = [...new Set([...P.dpop.areas, ...P.mtls.areas, ...P.bare.areas].map((a) => a[0]))];
    const get = (pr, k) => pr.areas.find((a) => a[0] === k)?.[2] ?? 0;
    keys.sort((a, b) => get(P.dpop, b) - get(P.dpop, a));
    lines.push('| area | bare proxy | gateway mTLS | gateway DPoP | DPoP - bare |', '|---|---:|---:|---:|---:|');
    let tb = 0;
    let tm = 0;
    let td = 0;
    for (const k of keys) {
      const [b, m2, d] = [get(P.bare, k), get(P.mtls, k), get(P.dpop, k)];
      tb += b;
      tm += m2;
      td += d;
      if (Math.max(b, m2, d) >= 2) lines.push(`| ${k} | ${f1(b)} | ${f1(m2)} | ${f1(d)} | ${f1(d - b)} |`);
    }
    lines.push(`| **total sampled** | **${f1(tb)}** | **${f1(tm)}** | **${f1(td)}** | **${f1(td - tb)}** |`, '');
  }
  for (const [kind, title] of [
    ['dpop', 'DPoP memory route'],
    ['mtls', 'mTLS route'],
  ]) {
    const pr = rep.profile?.[kind];
    if (pr === undefined) continue;
    if (pr.skipped) {
      lines.push(`## CPU profile, ${title}: ${pr.skipped}`, '');
      continue;
    }
    lines.push(`## CPU profile of the gateway, ${title}`, '');
    lines.push(`${pr.file}: ${f0(pr.totalMs)} ms sampled (non-idle) over ${pr.requests} requests (${f0(pr.rps)} req/s while profiling, 250 µs sampling). µs/req = sampled time / requests, so it includes the profiler's own overhead.`, '');
    if (kind === 'dpop') {
      lines.push('Top self time:', '', '| self % | µs/req | function | location |', '|---:|---:|---|---|');
      for (const fn of pr.top.slice(0, 20)) lines.push(`| ${f1(fn.pct)} | ${f1(fn.perReq)} | ${fn.name} | ${fn.where} |`);
      lines.push('');
    }
    lines.push('Inclusive time of the gateway\'s and its packages\' functions:', '', '| incl % | µs/req | function | location |', '|---:|---:|---|---|');
    for (const fn of pr.inclusive.slice(0, kind === 'dpop' ? 25 : 15)) lines.push(`| ${f1(fn.pct)} | ${f1(fn.perReq)} | ${fn.name} | ${fn.where} |`);
    lines.push('', 'Self time by area:', '', '| area | self % | µs/req |', '|---|---:|---:|');
    for (const [k, v, per] of pr.areas.slice(0, 14)) lines.push(`| ${k} | ${f1(v)} | ${f1(per)} |`);
    lines.push('');
  }
  if (rep.failures.length > 0) {
    lines.push('## FAILED: refused requests', '');
    for (const f of rep.failures) lines.push(`- ${f}`);
    lines.push('');
  }
  lines.push('## Notes', '');
  lines.push(
    '- Load generator: bench/lib/loadgen.mjs, a minimal keep-alive HTTP/1.1 client on node:tls with pre-serialised requests (chosen over autocannon: exact per-request DPoP proofs signed before the clock starts, client certificates, connections opened before the CPU counters start, and strict accounting of every status).',
    '- Every DPoP request carries its own proof (unique jti, iat = the time the pool was signed, right before its window); the pools are sized at 2.5x the best rate seen.',
    '- Latency is closed-loop (each connection waits for its answer), so p50/p99 reflect queueing at saturation; the median over rounds is shown.',
    '- The peer uses express-oauth2-jwt-bearer\'s own DPoP support (signature, typ, alg, iat window, htm, htu, ath, cnf.jkt). It keeps no jti replay cache, so the bench adds an in-memory one; it also verifies the access token signature on every request (no cache), which the gateway caches.',
  );
  for (const n of rep.notes) lines.push(`- ${n}`);
  return `${lines.join('\n')}\n`;
}

let exitCode = 0;
try {
  const report = await main();
  if (report.failures.length > 0) {
    console.error(`bench: FAILED: ${report.failures.length} window(s) had refused requests`);
    exitCode = 1;
  } else if (opt.check) {
    // An unsettled target is not a pass: the run could not tell.
    const failed = report.targets.filter((t) => t.status === 'FAIL' || t.status === 'unsettled');
    for (const t of report.targets) console.error(`check: ${t.status.padEnd(4)} ${t.name}: ${t.detail}`);
    if (failed.length > 0) exitCode = 1;
  }
} catch (e) {
  console.error(`bench: ${e.stack ?? e}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
