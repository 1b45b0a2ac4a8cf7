// Shared plumbing of the servers under test: report the port over IPC, stop on request, never outlive the bench.
import { readFileSync } from 'node:fs';

/** The TLS listener settings the baselines share with the gateway: TLS 1.2+, a client certificate requested. */
export function tlsServerOptions(cfg) {
  return {
    cert: readFileSync(cfg.certFile),
    key: readFileSync(cfg.keyFile),
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: false,
    keepAliveTimeout: 60_000,
  };
}

export function serve({ port, close }) {
  process.send?.({ type: 'ready', port });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const t = setTimeout(() => process.exit(0), 3000);
    t.unref();
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (m) => {
    if (m?.type === 'stop') void stop();
  });
  // The orchestrator went away: do not linger.
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
}

export function fail(e) {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.send?.({ type: 'error', message: String(e?.message ?? e) });
  process.exit(1);
}
