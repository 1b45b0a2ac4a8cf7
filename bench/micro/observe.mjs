// The per-request observability cost: the one JSON log line (the request-log writer to /dev/null through
// the batched LogSink as deployed, pino's own logger.info on the same sink, through pino.destination (sonic-boom) as before 7d41be8, and pino
// with the redact list the gateway used before 65eabe3) and the metric updates of one allowed request
// (requests counter, duration histogram, four stage histograms) through the gateway's hot collectors
// and through prom-client's own.
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { LogSink } from '../../dist/observe/log-sink.js';
import { createLogger } from '../../dist/observe/logger.js';
import { requestLogWriter } from '../../dist/observe/request-log.js';
import { createMetrics } from '../../dist/observe/metrics.js';

export default async function () {
  const dest = (sync) => pino.destination({ dest: '/dev/null', sync });
  const sinkLogger = createLogger('info', new LogSink(openSync('/dev/null', 'w')));
  const writeLine = requestLogWriter(sinkLogger);
  const asyncLogger = createLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: 8 * 1024 }));
  const REDACT = ['authorization', 'dpop', 'token', 'proof', 'key', 'cert', '*.authorization', '*.dpop', '*.token', '*.proof', '*.key', '*.cert', 'req.headers'];
  const redacting = pino(
    {
      level: 'info',
      base: { service: 'fapi-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    dest(true),
  );
  const line = {
    interaction_id: '6f1c1a52-8d0a-4c1e-9a0b-2f7d3c9e4b11',
    replaced_interaction_id: undefined,
    route: 'dpop',
    method: 'GET',
    path: '/dpop/accounts/123',
    decision: 'allow',
    reason: 'OK',
    status: 200,
    latency_ms: 1.234,
    client_id: 'client-1',
    issuer: 'main',
    binding: 'dpop',
    key_thumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    token_hash: '0123456789abcdef',
    remote: '127.0.0.1',
    detail: undefined,
  };
  const m = createMetrics();
  const stages = ['token', 'binding', 'replay', 'upstream'];
  const stageSeries = stages.map((stage) => m.stage.child({ stage }));
  // prom-client's own collectors, as the gateway used them before 6c6283f.
  const reg = new Registry();
  const prom = {
    requests: new Counter({ name: 'r_total', help: 'h', labelNames: ['route', 'decision', 'reason', 'status'], registers: [reg] }),
    duration: new Histogram({ name: 'd_seconds', help: 'h', labelNames: ['route', 'decision'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [reg] }),
    stage: new Histogram({ name: 's_seconds', help: 'h', labelNames: ['stage'], buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5], registers: [reg] }),
  };
  const batch = 20;
  return [
    { name: 'log line: requestLogWriter, batched LogSink (as deployed)', batch, fn: () => { for (let i = 0; i < batch; i++) writeLine('info', line, 'allow'); } },
    { name: 'log line: pino logger.info, batched LogSink (before the request-log writer)', batch, fn: () => { for (let i = 0; i < batch; i++) sinkLogger.info(line, 'allow'); } },
    { name: 'log line: gateway logger, sonic-boom async 8 KiB batches (before 7d41be8)', batch, fn: () => { for (let i = 0; i < batch; i++) asyncLogger.info(line, 'allow'); } },
    { name: 'log line: pino + the former redact list, sync (before 65eabe3)', batch, fn: () => { for (let i = 0; i < batch; i++) redacting.info(line, 'allow'); } },
    {
      name: 'metrics: one request, hot collectors (as now: stage series kept, labels per call for the rest)',
      batch,
      fn: () => {
        for (let i = 0; i < batch; i++) {
          for (const s of stageSeries) s.observe(0.0001);
          m.requests.inc({ route: 'dpop', decision: 'allow', reason: 'OK', status: '200' });
          m.duration.observe({ route: 'dpop', decision: 'allow' }, 0.001);
        }
      },
    },
    {
      name: 'metrics: one request, prom-client Counter/Histogram with labels per call (before 6c6283f)',
      batch,
      fn: () => {
        for (let i = 0; i < batch; i++) {
          for (const stage of stages) prom.stage.observe({ stage }, 0.0001);
          prom.requests.inc({ route: 'dpop', decision: 'allow', reason: 'OK', status: '200' });
          prom.duration.observe({ route: 'dpop', decision: 'allow' }, 0.001);
        }
      },
    },
  ];
}
