// The gateway under test, from the built dist/: config text from a file, secrets from the environment,
// logs to stdout (which the orchestrator points at /dev/null), exactly as `fapi-gateway --config` would.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { fail, serve } from './common.mjs';

// BENCH_DIST: another build to load instead of dist/ (npm run bench -- --baseline DIR).
const dist = process.env.BENCH_DIST === undefined ? new URL('../../dist/', import.meta.url) : pathToFileURL(`${process.env.BENCH_DIST}/`);
const { parseConfig } = await import(new URL('config/load.js', dist).href);
const { startGateway } = await import(new URL('main.js', dist).href);

try {
  const text = readFileSync(process.argv[2], 'utf8');
  const loaded = parseConfig(text, '<inline>', process.env);
  const gw = await startGateway(loaded);
  // Wait until the issuer keys are fetched and the replay store answers (when the gateway can say so);
  // a fresh replay store is ready dpop.iat_future_s (10 s) after its memory begins (DPOP-21).
  if (typeof gw.notReady === 'function') {
    const until = Date.now() + 20_000;
    let why = await gw.notReady();
    while (why !== undefined && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      why = await gw.notReady();
    }
    if (why !== undefined) throw new Error(`gateway not ready after 20 s: ${why}`);
  }
  serve({ port: gw.apiAddress.port, close: () => gw.close(1000) });
} catch (e) {
  fail(e);
}
