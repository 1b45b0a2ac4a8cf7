// pino JSON logs. Stages never log; the gateway writes one line per request (HDR-2, TOK-10).
// The request line is built field by field in gateway.ts and never holds a token, proof, key or
// certificate, so no redaction pass runs per line (it cost more than the rest of the line).
import { pino, type DestinationStream, type Logger } from 'pino';
import { LogSink } from './log-sink.js';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fapi-gateway', pid: process.pid },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdout(),
  );
}

let lastMs = Number.NaN;
let lastTime = '';
/** pino's isoTime, formatted once per millisecond: a busy gateway writes several lines in each. */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** stdout, batched (see log-sink.ts) and written out at exit. */
function stdout(): DestinationStream {
  const sink = new LogSink(1);
  process.once('exit', () => sink.flushSync());
  return sink;
}

/** Flush buffered lines (before exit). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
