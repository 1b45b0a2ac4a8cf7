// `npm run bench:micro`: one micro-benchmark file per hot function in bench/micro/*.mjs (tinybench),
// importing the built dist/. Pinned to CPU 0 when taskset exists. Prints one table and writes
// bench/results/micro.json and micro.md.
//   node bench/micro.mjs [--time 400] [--filter text]
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { foreignPct, pinSelf, pinningAvailable, snapshot } from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({ options: { time: { type: 'string', default: '400' }, filter: { type: 'string' } } });
const TIME = Math.max(50, Math.min(5000, Number(opt.time)));

const pinned = pinningAvailable().ok && pinSelf(0);
const files = readdirSync(join(HERE, 'micro'))
  .filter((f) => f.endsWith('.mjs') && !f.startsWith('_'))
  .sort();

const rows = [];
const started = Date.now();
const snap0 = snapshot([process.pid]);
for (const file of files) {
  const make = (await import(pathToFileURL(join(HERE, 'micro', file)).href)).default;
  const tasks = (await make()).filter((t) => opt.filter === undefined || t.name.includes(opt.filter));
  if (tasks.length === 0) continue;
  const bench = new Bench({ time: TIME, warmupTime: Math.min(200, TIME / 2), throws: true });
  for (const t of tasks) bench.add(t.name, t.fn);
  await bench.run();
  for (const t of tasks) {
    const task = bench.getTask(t.name);
    const r = task.result;
    const batch = t.batch ?? 1;
    // latency in ms per call of fn; per operation = / batch.
    const per = (ms) => (ms * 1000) / batch;
    rows.push({
      file,
      name: t.name,
      meanMicros: per(r.latency.mean),
      p50Micros: per(r.latency.p50),
      p99Micros: per(r.latency.p99),
      opsPerSec: 1e6 / per(r.latency.mean),
      rmePct: r.latency.rme,
      samples: task.runs,
      batch,
    });
    process.stderr.write(`  ${t.name}: ${per(r.latency.mean).toFixed(3)} µs\n`);
  }
}

const foreign = foreignPct(snap0, snapshot([process.pid]));
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const lines = [
  '# fapi-gateway micro-benchmarks',
  '',
  `- Date: ${new Date().toISOString()}; ${cpus()[0]?.model?.trim()}; Node ${process.version}; ${pinned ? 'pinned to CPU 0' : 'not pinned'}; tinybench, ${TIME} ms per task`,
  '- Per operation (tasks that loop `batch` times per sample are divided by it). Imports dist/: run `npm run build` first.',
  `- Other processes used ${foreign.toFixed(0)}% of a core on average while this ran${foreign > 15 ? ' (noisy: treat small differences with care)' : ''}.`,
  '',
  '| benchmark | mean µs | p50 µs | p99 µs | ops/s | ±% | samples x batch |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${fmt(r.meanMicros)} | ${fmt(r.p50Micros)} | ${fmt(r.p99Micros)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.rmePct.toFixed(1)} | ${r.samples} x ${r.batch} |`),
  '',
];
const md = lines.join('\n');
const out = join(HERE, 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'micro.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, pinned, timeMs: TIME, foreignPct: foreign, rows }, null, 2)}\n`);
writeFileSync(join(out, 'micro.md'), md);
process.stdout.write(`${md}\n`);
process.stderr.write(`micro-benchmarks done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
process.exit(0);
