// A whole gateway on loopback for integration tests: real TLS listener, real issuer (JWKS over TLS),
// real upstream, the config going through the same loader as production.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startGateway, type RunningGateway } from '../../src/main.js';
import { rawTls, request, type RequestOpts, type TestResponse } from './client.js';
import { startIssuer, type TestIssuer } from './issuer.js';
import { testPki, writePki, type Pem, type PkiFiles, type TestPki } from './pki.js';
import { until } from './redis.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const AUDIENCE = 'https://api.test';
export const PUBLIC_ORIGIN = 'https://api.test';

type Raw = Record<string, any>;

export interface HarnessOptions {
  /** Replace the default routes (each gets issuers/audience/upstream defaults if missing). */
  readonly routes?: Raw[];
  /** Last word on the raw config before it is validated. */
  readonly patch?: (config: Raw) => void;
  readonly env?: NodeJS.ProcessEnv;
  readonly issuer?: TestIssuer;
  readonly upstream?: TestUpstream;
}

export interface CallOptions extends Omit<RequestOpts, 'ca' | 'cert' | 'key'> {
  /** Client certificate for the TLS connection. */
  readonly cert?: Pem;
}

export interface Harness {
  readonly pki: TestPki;
  readonly files: PkiFiles;
  readonly issuer: TestIssuer;
  readonly upstream: TestUpstream;
  readonly gw: RunningGateway;
  readonly port: number;
  readonly adminUrl: string;
  readonly logs: string[];
  logLines(): Raw[];
  url(path: string): string;
  call(path: string, opts?: CallOptions): Promise<TestResponse>;
  /**
   * Raw bytes to the gateway over TLS with the client1 certificate (for what Node's client would
   * normalise or refuse to send); the reply until the server closes or timeoutMs (default 2000) passes.
   */
  raw(payload: string | Buffer, timeoutMs?: number): Promise<{ response: string; closed: boolean }>;
  /** Reload the running gateway with the harness config, changed by `patch` (unchanged without one). */
  reload(patch?: (config: Raw) => void): void;
  close(): Promise<void>;
}

export const defaultRoutes = (): Raw[] => [
  { id: 'accounts', match: { methods: ['GET'], path_prefix: '/accounts' }, auth: { binding: 'any', scopes: { all_of: ['accounts'] } } },
  { id: 'mtls-only', match: { methods: ['GET', 'POST', 'DELETE'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } },
  { id: 'dpop-only', match: { methods: ['GET', 'POST'], path_prefix: '/dpop' }, auth: { binding: 'dpop' } },
  { id: 'payments', match: { methods: ['POST'], path: '/payments' }, auth: { binding: 'any', scopes: { all_of: ['payments'] } } },
  { id: 'open', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/open' }, auth: { binding: 'none' } },
];

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  const issuer = opts.issuer ?? (await startIssuer({ pki }));
  const upstream = opts.upstream ?? (await startUpstream());
  const config: Raw = {
    server: {
      listen: '127.0.0.1:0',
      public_origin: PUBLIC_ORIGIN,
      tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile },
    },
    admin: { listen: '127.0.0.1:0' },
    // No future allowance for a DPoP iat by default: a store remembers only from its start, and proofs
    // that could have been used before it (iat less iat_future_s) are refused (DPOP-21), so with the
    // default of 10 s every test would wait 10 s. Tests of future iats set it and wait.
    dpop: { iat_future_s: 0 },
    issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
    routes: (opts.routes ?? defaultRoutes()).map((r) => ({
      ...r,
      auth: { issuers: ['main'], audience: AUDIENCE, ...r.auth },
      upstream: { url: upstream.url, timeout_ms: 2000, ...r.upstream },
    })),
    logging: { level: 'info' },
  };
  opts.patch?.(config);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const loaded = parseConfig(stringify(config), '<inline>', opts.env ?? {});
  const gw = await startGateway(loaded, { logDestination: sink });
  // The Redis connection opens in the background: a first request before it gets 503 (fail closed).
  // Tests that mean Redis to be away see that within the bound.
  if (loaded.config.replay.store === 'redis') {
    await until(async () => (await gw.notReady()) === undefined, 5000, 20);
    // A Redis prefix seen for the first time gets its epoch now, and proofs from before it (its second
    // included: iat is in whole seconds) are refused (DPOP-21): start the test in the next second.
    await sleep(1000 - (Date.now() % 1000));
  }
  const port = gw.apiAddress.port;
  const url = (path: string): string => `https://127.0.0.1:${port}${path}`;
  return {
    pki,
    files,
    issuer,
    upstream,
    gw,
    port,
    adminUrl: `http://127.0.0.1:${gw.adminAddress?.port}`,
    logs,
    logLines: () => logs.map((l) => JSON.parse(l) as Raw),
    url,
    call: (path, { cert, ...o } = {}) =>
      request(url(path), {
        ...o,
        ca: pki.ca.certPem,
        servername: 'localhost',
        ...(cert !== undefined && { cert: cert.certPem, key: cert.keyPem }),
      }),
    raw: (payload, timeoutMs) =>
      rawTls('127.0.0.1', port, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client1.certPem, key: pki.client1.keyPem, payload, timeoutMs }),
    reload(patch) {
      const next = structuredClone(config);
      patch?.(next);
      gw.reload(parseConfig(stringify(next), '<inline>', opts.env ?? {}));
    },
    async close() {
      await gw.close(1000);
      if (opts.upstream === undefined) await upstream.close();
      if (opts.issuer === undefined) await issuer.close();
    },
  };
}

/** The request log lines for an interaction id; the line is written when the response closes, so wait for it. */
export async function logsFor(h: Harness, interactionId: string, timeoutMs = 2000): Promise<Raw[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const lines = h.logLines().filter((l) => l.interaction_id === interactionId && l.reason !== undefined);
    if (lines.length > 0 || Date.now() > until) return lines;
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function logFor(h: Harness, interactionId: string): Promise<Raw | undefined> {
  return (await logsFor(h, interactionId))[0];
}
