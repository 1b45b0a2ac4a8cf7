// The per-request observability cost: the one JSON log line (the gateway's logger to /dev/null through
// the batched LogSink as deployed, through pino.destination (sonic-boom) as before 7d41be8, and pino with
// the redact list the gateway used before 65eabe3) and the metric updates of one allowed request (requests counter, duration
// histogram, four stage histograms), with labels per call as the gateway does, and pre-bound.
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { LogSink } from '../../dist/observe/log-sink.js';
import { createLogger } from '../../dist/observe/logger.js';
import { createMetrics } from '../../dist/observe/metrics.js';

export default async function () {
  const dest = (sync) => pino.destination({ dest: '/dev/null', sync });
  const sinkLogger = createLogger('info', new LogSink(openSync('/dev/null', 'w')));
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
  const stageLabels = stages.map((stage) => Object.freeze({ stage }));
  const bound = {
    requests: m.requests.labels({ route: 'dpop', decision: 'allow', reason: 'OK', status: '200' }),
    duration: m.duration.labels({ route: 'dpop', decision: 'allow' }),
    stages: stages.map((stage) => m.stage.labels({ stage })),
  };
  const batch = 20;
  return [
    { name: 'log line: gateway logger, batched LogSink (as deployed)', batch, fn: () => { for (let i = 0; i < batch; i++) sinkLogger.info(line, 'allow'); } },
    { name: 'log line: gateway logger, sonic-boom async 8 KiB batches (before 7d41be8)', batch, fn: () => { for (let i = 0; i < batch; i++) asyncLogger.info(line, 'allow'); } },
    { name: 'log line: pino + the former redact list, sync (before 65eabe3)', batch, fn: () => { for (let i = 0; i < batch; i++) redacting.info(line, 'allow'); } },
    {
      name: 'metrics: one request, labels per call (as now)',
      batch,
      fn: () => {
        for (let i = 0; i < batch; i++) {
          for (const l of stageLabels) m.stage.observe(l, 0.0001);
          m.requests.inc({ route: 'dpop', decision: 'allow', reason: 'OK', status: '200' });
          m.duration.observe({ route: 'dpop', decision: 'allow' }, 0.001);
        }
      },
    },
    {
      name: 'metrics: one request, pre-bound label children (no gain: prom-client re-hashes)',
      batch,
      fn: () => {
        for (let i = 0; i < batch; i++) {
          for (const s of bound.stages) s.observe(0.0001);
          bound.requests.inc();
          bound.duration.observe(0.001);
        }
      },
    },
  ];
}
