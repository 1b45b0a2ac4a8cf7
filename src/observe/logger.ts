// pino JSON logs. Stages never log; the gateway writes one line per request (HDR-2, TOK-10).
// The request line is built field by field in gateway.ts and never holds a token, proof, key or
// certificate, so no redaction pass runs per line (it cost more than the rest of the line).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fapi-gateway', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdout(),
  );
}

/**
 * stdout, written asynchronously in batches of up to 8 KiB, at least once a second, and at exit:
 * one write per log line was a tenth of the gateway's CPU under load.
 */
function stdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 });
  const timer = setInterval(() => {
    try {
      dest.flush();
    } catch {
      clearInterval(timer);
    }
  }, 1000).unref();
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // Nothing left to do at exit.
    }
  });
  return dest;
}

/** Flush buffered lines (before exit). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
