// pino JSON logs. Stages never log; the gateway writes one line per request (HDR-2, TOK-10).
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

// Belt and braces: these never appear in our log objects, and are censored if they ever do.
const REDACT = [
  'authorization', 'dpop', 'token', 'proof', 'key', 'cert',
  '*.authorization', '*.dpop', '*.token', '*.proof', '*.key', '*.cert', 'req.headers',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fapi-gateway', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
