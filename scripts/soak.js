#!/usr/bin/env node
// npm run soak [-- --seconds N] [--concurrency C] [--no-record]
// Sustained mTLS + DPoP load against the gateway (from src/, in a child process started with
// --expose-gc) for a bounded time, on loopback. Prints one row per second (requests, p50/p99 latency,
// errors, RSS, heap, open fds, replay-store entries) and a verdict; records the figures in
// docs/.hardening/soak.json for `npm run hardening-report`. Exit 0 when: no unexpected answer, the heap
// after warm-up grew less than --max-growth-mb (default 20), and the fds are back to baseline.
import { parseArgs } from 'node:util';
import { figures } from './lib/hardening-figures.js';
import { runSoak } from './lib/soak-load.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '4' },
    'max-growth-mb': { type: 'string', default: '20' },
    'no-record': { type: 'boolean', default: false },
    group: { type: 'string', default: 'soak' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const maxGrowth = Number(values['max-growth-mb']);
if (!Number.isInteger(seconds) || seconds < 3 || seconds > 3600 || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
  process.stderr.write('usage: node scripts/soak.js [--seconds 3..3600] [--concurrency 1..64] [--max-growth-mb N] [--no-record]\n');
  process.exit(2);
}

const pad = (v, n) => String(v).padStart(n);
process.stdout.write(`soak: ${seconds} s, ${concurrency} mTLS + ${concurrency} DPoP clients, gateway from src/ in a child process\n`);
process.stdout.write(`${pad('t', 4)} ${pad('req/s', 6)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('errors', 6)} ${pad('RSS MB', 7)} ${pad('heap MB', 7)} ${pad('of MB', 6)} ${pad('ext MB', 6)} ${pad('fds', 4)} ${pad('jtis', 7)}\n`);
const r = await runSoak({
  seconds,
  concurrency,
  onSecond: (row) =>
    process.stdout.write(
      `${pad(row.t, 4)} ${pad(row.rps, 6)} ${pad(row.p50Ms, 7)} ${pad(row.p99Ms, 7)} ${pad(row.errors, 6)} ${pad(row.rssMB, 7)} ${pad(row.heapMB, 7)} ${pad(row.heapTotalMB, 6)} ${pad(row.externalMB, 6)} ${pad(row.fds, 4)} ${pad(row.replayEntries ?? '-', 7)}${row.gc ? '  (gc: warm-up reference)' : ''}\n`,
    ),
});
const verdict = {
  noUnexpectedAnswers: r.errors === 0,
  heapPlateau: r.memory.heapGrowthAfterWarmupMB < maxGrowth,
  fdsBackToBaseline: r.fds.end <= r.fds.baseline,
  gatewayAlive: r.gatewayAlive,
};
const ok = Object.values(verdict).every(Boolean);
process.stdout.write(
  `\n${r.requests} requests (${r.rps}/s): ${r.ok} OK, ${r.refusedAsExpected} refused as expected, ${r.errors} unexpected (${r.transportErrors} transport)\n` +
    `heap: baseline ${r.memory.baselineHeapMB} MB, after warm-up ${r.memory.warmHeapMB} MB, end ${r.memory.endHeapMB} MB (growth ${r.memory.heapGrowthAfterWarmupMB} MB, bound ${maxGrowth} MB; ` +
    `replay store ${r.memory.replayEntriesWarm} -> ${r.memory.replayEntriesEnd} jtis)\n` +
    `RSS: baseline ${r.memory.baselineRssMB} MB, peak ${r.memory.peakRssMB} MB, end ${r.memory.endRssMB} MB\n` +
    `fds: baseline ${r.fds.baseline}, peak ${r.fds.peak}, end ${r.fds.end} (settled in ${r.fds.settleMs} ms); upstream connections left open: ${r.upstreamOpenAfter}\n` +
    `p99 latency: median second ${r.p99MsMedianSecond} ms, worst second ${r.p99MsWorstSecond} ms\n` +
    `verdict: ${ok ? 'PASS' : 'FAIL'} ${JSON.stringify(verdict)}\n`,
);
if (r.errorSamples.length > 0) process.stdout.write(`unexpected answers (first ${r.errorSamples.length}): ${JSON.stringify(r.errorSamples)}\n`);
if (!values['no-record']) figures(values.group, { always: true }).set('soak', { ...r, verdict, maxGrowthMB: maxGrowth, at: new Date().toISOString() });
process.exit(ok ? 0 : 1);
