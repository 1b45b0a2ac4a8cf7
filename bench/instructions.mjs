// Instructions per request, counted by valgrind (callgrind): an A/B for hot-path changes that does not
// depend on what else the machine is doing. Throughput here drifts by 10-20 % between runs and by ~10 %
// between two processes of the same build. An instruction count ignores machine load; two processes of
// one build still differ by up to ~3-5 % (V8 optimises and collects garbage at slightly different
// moments), so smaller differences are not results. It counts the server's own user-space work (all its
// threads), not the kernel's (syscalls, loopback) and not cache misses: a pointer for changes to our
// code, not a replacement for `npm run bench`.
//
//   node bench/instructions.mjs [--requests 3000] [--warmup 20000] [--connections 1] [--only bare,mtls,dpop] [--baseline DIR] [--keep DIR]
//
// --connections N spreads the requests over N connections in flight at once (the gateway then holds N
// requests, as under `npm run bench`); the default, one, is the most repeatable count.
//
// --keep DIR keeps each measured dump (DIR/<scenario>-<build>.callgrind) for callgrind_annotate: native
// code (V8, libuv, OpenSSL, llhttp) is named there; JIT-compiled JavaScript shows as unnamed addresses.
//
// Each server runs under `valgrind --tool=callgrind --instr-atstart=no` (so start-up and warm-up run
// uninstrumented), gets `--warmup` requests on one keep-alive TLS connection, then instrumentation is
// switched on, the counters are zeroed, `--requests` more are sent one at a time, and the counters are
// dumped. Every response must be a 200.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createFixtures } from './lib/fixtures.mjs';
import { startNode, stopChild, waitMessage } from './lib/proc.mjs';
import { makeProofs } from './lib/proofs.mjs';
import { gatewayConfig, gatewayRoutes, requestsFor } from './lib/scenario.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const HARD_LIMIT_MS = 15 * 60_000;
const { values: opt } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    // V8 is still compiling after a few thousand requests: with 4,000 warm-up requests, JIT work was
    // ~40 % of the bare proxy's count and ~30 % of the gateway's, which hid the gap between them.
    warmup: { type: 'string', default: '20000' },
    only: { type: 'string', default: 'bare,mtls,dpop' },
    connections: { type: 'string', default: '1' },
    baseline: { type: 'string' },
    keep: { type: 'string' },
  },
});
const REQUESTS = Math.max(100, Math.min(50_000, Number(opt.requests)));
const WARMUP = Math.max(0, Math.min(50_000, Number(opt.warmup)));
const CONNECTIONS = Math.max(1, Math.min(200, Number(opt.connections)));
const ONLY = new Set(opt.only.split(',').map((s) => s.trim()));
// Extra node flags for the servers (INSTR_NODE_ARGS). Two processes of one build differ by up to ~3-5 %
// (when V8 optimises and collects garbage is not the same twice); --single-threaded did not help.
const NODE_ARGS = process.env.INSTR_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
// Extra valgrind flags (INSTR_VALGRIND_ARGS), e.g. `--cache-sim=yes --branch-sim=yes`: simulated cache
// and branch misses land in the --keep dumps (callgrind_annotate shows them); slower still.
const VALGRIND_ARGS = process.env.INSTR_VALGRIND_ARGS?.split(' ').filter(Boolean) ?? [];
const log = (m) => process.stderr.write(`[instructions] ${m}\n`);

for (const tool of ['valgrind', 'callgrind_control']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error !== undefined) {
    console.error(`bench/instructions: ${tool} not found (Debian: apt-get install valgrind)`);
    process.exit(2);
  }
}
const builds = [{ name: 'this build', dist: join(ROOT, 'dist') }];
if (opt.baseline !== undefined) builds.push({ name: `baseline (${opt.baseline})`, dist: resolve(opt.baseline) });
for (const b of builds) if (!existsSync(join(b.dist, 'main.js'))) throw new Error(`${b.dist}: no main.js (build it first)`);

const hard = setTimeout(() => {
  console.error('bench/instructions: hard time limit reached');
  process.exit(3);
}, HARD_LIMIT_MS);
hard.unref();

const fx = await createFixtures();
const tmp = mkdtempSync(join(tmpdir(), 'fapi-instr-'));
const children = new Set();
const { bearerRequest, dpopRequest, tlsTarget } = requestsFor(fx);

/** A bench server (servers/*.mjs) under callgrind, instrumentation off until asked. */
async function startUnderCallgrind(file, { args = [], env = {} } = {}) {
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--instr-atstart=no', ...VALGRIND_ARGS, `--callgrind-out-file=${tmp}/cg.%p`, process.execPath, ...NODE_ARGS, join(HERE, 'servers', file), ...args],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ...env } },
  );
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.on('error', () => undefined);
  const m = await waitMessage(child, (x) => x?.type === 'ready' || x?.type === 'error', 180_000, `${file} under valgrind`).catch((e) => {
    throw new Error(`${e.message}\n${stderr}`);
  });
  if (m.type === 'error') throw new Error(`${file}: ${m.message}`);
  return { child, port: m.port };
}

function callgrind(pid, ...args) {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** Total instructions in the newest dump of `pid` (kept as `keepAs` with --keep). */
function lastDumpTotal(pid, keepAs) {
  const dumps = readdirSync(tmp)
    .filter((f) => f.startsWith(`cg.${pid}.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const file = join(tmp, dumps.at(-1));
  if (opt.keep !== undefined) {
    mkdirSync(opt.keep, { recursive: true });
    copyFileSync(file, join(opt.keep, `${keepAs}.callgrind`));
  }
  const text = readFileSync(file, 'utf8');
  const m = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
  if (!m) throw new Error(`no totals in ${dumps.at(-1)}`);
  return Number(m[1]);
}

/** CONNECTIONS keep-alive TLS connections, opened once (handshakes stay out of the counted requests). */
async function openAll(target) {
  return Promise.all(Array.from({ length: CONNECTIONS }, () => open(target)));
}

/** `requests` spread over the connections, sequential on each; every answer must be a 200. */
async function send(conns, requests) {
  const per = Math.ceil(requests.length / conns.length);
  await Promise.all(conns.map((c, i) => c.run(requests.slice(i * per, (i + 1) * per))));
}

/** One keep-alive TLS connection that sends requests one at a time. */
async function open(target) {
  const sock = connect({ host: target.host, port: target.port, servername: target.servername, ca: target.ca, cert: target.cert, key: target.key });
  await new Promise((res, rej) => sock.once('secureConnect', res).once('error', rej));
  let buf = Buffer.alloc(0);
  let waiting;
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    waiting?.();
  });
  sock.on('error', (e) => waiting?.(e));
  const response = () =>
    new Promise((res, rej) => {
      const check = (err) => {
        if (err) return rej(err);
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
        if (!Number.isFinite(len)) return rej(new Error(`no content-length: ${head.split('\r\n')[0]}`));
        if (buf.length < end + 4 + len) return;
        buf = buf.subarray(end + 4 + len);
        waiting = undefined;
        res(head.split('\r\n')[0]);
      };
      waiting = check;
      check();
    });
  return {
    async run(requests) {
      for (let i = 0; i < requests.length; i++) {
        sock.write(requests[i]);
        const status = await response();
        if (!status.startsWith('HTTP/1.1 200')) throw new Error(`request ${i}: ${status}`);
      }
    },
    close: () => sock.destroy(),
  };
}

/** `n` requests for a scenario: the same bytes for mTLS, a fresh proof each for DPoP. */
function requests(kind, n) {
  if (kind !== 'dpop') return new Array(n).fill(Buffer.from(bearerRequest('/mtls/accounts/123', fx.tokens.mtls), 'latin1'));
  const r = dpopRequest('/dpop/accounts/123', fx.tokens.dpop);
  return makeProofs(r.proof, n).map((p) => Buffer.from(r.head + p + r.tail, 'latin1'));
}

async function measure(server, kind, keepAs) {
  const conns = await openAll(tlsTarget(server.port, kind !== 'dpop'));
  if (WARMUP > 0) await send(conns, requests(kind, WARMUP));
  const batch = requests(kind, REQUESTS);
  callgrind(server.child.pid, '-i', 'on');
  callgrind(server.child.pid, '-z');
  const t0 = performance.now();
  await send(conns, batch);
  callgrind(server.child.pid, '-d');
  callgrind(server.child.pid, '-i', 'off');
  for (const c of conns) c.close();
  return { perRequest: lastDumpTotal(server.child.pid, keepAs) / REQUESTS, seconds: (performance.now() - t0) / 1000 };
}

const rows = [];
try {
  const upstream = startNode(join(HERE, 'servers', 'upstream.mjs'));
  children.add(upstream);
  const { port: upPort } = await waitMessage(upstream, (m) => m?.type === 'ready', 20_000, 'upstream');
  const upstreamUrl = `http://127.0.0.1:${upPort}`;
  if (ONLY.has('bare')) {
    log('bare proxy under callgrind ...');
    const s = await startUnderCallgrind('bare-proxy.mjs', {
      env: { BENCH_SERVER_CONFIG: JSON.stringify({ upstream: upstreamUrl, certFile: fx.files.serverCertFile, keyFile: fx.files.serverKeyFile }) },
    });
    rows.push({ scenario: 'bare TLS passthrough (http-proxy-3)', build: '-', ...(await measure(s, 'bare', 'bare')) });
    await stopChild(s.child, 10_000);
  }
  const cfgFile = join(tmp, 'gateway.yaml');
  writeFileSync(cfgFile, stringify(gatewayConfig(fx, { routes: gatewayRoutes(upstreamUrl) })));
  for (const b of builds) {
    if (!ONLY.has('mtls') && !ONLY.has('dpop')) break;
    log(`gateway (${b.name}) under callgrind ...`);
    const s = await startUnderCallgrind('gateway.mjs', { args: [cfgFile], env: { BENCH_DIST: b.dist } });
    for (const kind of ['mtls', 'dpop']) {
      if (!ONLY.has(kind)) continue;
      const r = await measure(s, kind, `${kind}-${b === builds[0] ? 'this' : 'baseline'}`);
      rows.push({ scenario: kind === 'mtls' ? 'gateway, mTLS-bound JWT' : 'gateway, DPoP-bound JWT (memory store)', build: b.name, ...r });
      log(`  ${kind}: ${Math.round(r.perRequest).toLocaleString('en')} instructions/request`);
    }
    await stopChild(s.child, 10_000);
  }
} finally {
  await Promise.all([...children].map((c) => stopChild(c, 5000).catch(() => undefined)));
  await fx.close().catch(() => undefined);
  rmSync(fx.files.dir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}

const bare = rows.find((r) => r.build === '-')?.perRequest;
const fmt = (n) => Math.round(n).toLocaleString('en');
const lines = [
  `Instructions per request (valgrind callgrind, server process, all threads, user space), ${REQUESTS} requests after ${WARMUP} uninstrumented warm-up requests, ${CONNECTIONS === 1 ? 'one keep-alive TLS connection' : `${CONNECTIONS} keep-alive TLS connections in flight at once`}, Node ${process.versions.node}:`,
  '',
  '| scenario | build | instructions/request | x bare | x this build |',
  '|---|---|---:|---:|---:|',
];
for (const r of rows) {
  const mine = rows.find((x) => x.scenario === r.scenario && x.build === 'this build')?.perRequest;
  lines.push(
    `| ${r.scenario} | ${r.build} | ${fmt(r.perRequest)} | ${bare ? (r.perRequest / bare).toFixed(3) : '—'} | ${r.build === '-' || !mine ? '—' : (r.perRequest / mine).toFixed(3)} |`,
  );
}
console.log(lines.join('\n'));
