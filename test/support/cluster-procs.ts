// Process-lifecycle tests: the real CLI (cli.ts's buildCli: the run's one build, never dist/, which
// another test file may rebuild), started as detached processes with bounded waits; every child is
// tracked and SIGKILLed (with its process group) at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { adminGet, buildCli, eventually, jsonLines } from './cli.js';
import { request, type TestResponse } from './client.js';
import { cnfX5t, startIssuer, type TestIssuer } from './issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from './pki.js';
import { freePort, SHARED_REDIS_URL, uniquePrefix } from './redis.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export { adminGet, eventually, freePort, uniquePrefix };

export interface World {
  cliJs: string;
  pki: TestPki;
  files: PkiFiles;
  issuer: TestIssuer;
  upstream: TestUpstream;
}

export async function world(name: string): Promise<World> {
  const cliJs = buildCli(`dist-procs-${name}`);
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  return { cliJs, pki, files, issuer: await startIssuer({ pki }), upstream: await startUpstream() };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A gateway config: two routes (/a mTLS, /d DPoP), the Redis store, `workers` processes. */
export function gatewayConfig(w: World, o: { apiPort: number; adminPort: number; workers?: number | 'auto'; prefix: string; extra?: Record<string, unknown> }) {
  return {
    server: {
      listen: `127.0.0.1:${o.apiPort}`,
      public_origin: 'https://api.test',
      ...(o.workers !== undefined && { workers: o.workers }),
      tls: { cert_file: w.files.serverCertFile, key_file: w.files.serverKeyFile },
    },
    admin: { listen: `127.0.0.1:${o.adminPort}` },
    issuers: { main: { issuer: w.issuer.issuer, jwks_uri: w.issuer.jwksUri, ca_file: w.files.caFile } },
    routes: [
      { id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: w.upstream.url } },
      { id: 'd', match: { methods: ['GET'], path_prefix: '/d' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop' }, upstream: { url: w.upstream.url } },
    ],
    replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: o.prefix } },
    ...o.extra,
  };
}

export function writeConfig(w: World, name: string, config: object): string {
  const dir = join(w.files.dir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

export interface Proc {
  child: ChildProcess;
  lines: Record<string, any>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitedYet: () => boolean;
}

const children = new Set<ChildProcess>();

export function spawnCli(cliJs: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [cliJs, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so the whole tree can be killed at the end
    env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL, ...env },
  });
  children.add(child);
  const lines = jsonLines(child.stdout!);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on('exit', (code, signal) => {
      done = true;
      ok({ code, signal });
    }),
  );
  return { child, lines, stderr: () => err, exited, exitedYet: () => done };
}

export function killAll(): void {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
}

/** Kills a pid we know of (a worker), ignoring one already gone. */
export function killPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

export const readyz = (adminPort: number): Promise<number> => adminGet(`http://127.0.0.1:${adminPort}/readyz`, 4000).then((r) => r.status, () => 0);
export const livez = (adminPort: number): Promise<number> => adminGet(`http://127.0.0.1:${adminPort}/livez`, 4000).then((r) => r.status, () => 0);

export const workerPids = (p: Proc): number[] => [...new Set(p.lines.filter((l) => l.msg === 'fapi-gateway listening').map((l) => l.pid as number))];

export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts the CLI and waits until `workers` listening lines and /readyz 200. */
export async function startCluster(w: World, file: string, adminPort: number, workers: number): Promise<Proc> {
  const p = spawnCli(w.cliJs, ['--config', file]);
  await eventually(async () => workerPids(p).length >= workers || p.exitedYet(), 20_000);
  if (p.exitedYet()) throw new Error(`exited: ${p.stderr()}`);
  await eventually(async () => (await readyz(adminPort)) === 200, 20_000);
  return p;
}

export async function mtlsCall(w: World, apiPort: number, path = '/a/1'): Promise<TestResponse> {
  const token = await w.issuer.mint({ cnf: cnfX5t(w.pki.client1.x5tS256) });
  return request(`https://127.0.0.1:${apiPort}${path}`, {
    ca: w.pki.ca.certPem,
    servername: 'localhost',
    cert: w.pki.client1.certPem,
    key: w.pki.client1.keyPem,
    headers: [['Authorization', `Bearer ${token}`]],
  });
}

/** Sends fresh-connection mTLS calls until both worker pids have served some (from the allow lines). */
export async function loadBothWorkers(w: World, p: Proc, apiPort: number): Promise<Map<number, number>> {
  const perPid = (): Map<number, number> => {
    const m = new Map<number, number>();
    for (const l of p.lines) if (l.msg === 'allow' && l.route === 'a') m.set(l.pid, (m.get(l.pid) ?? 0) + 1);
    return m;
  };
  let sent = 0;
  for (let round = 0; round < 10; round++) {
    const st = await Promise.all(Array.from({ length: 6 }, () => mtlsCall(w, apiPort).then((r) => r.status)));
    if (st.some((s) => s !== 200)) throw new Error(`statuses ${st}`);
    sent += 6;
    await eventually(async () => [...perPid().values()].reduce((a, b) => a + b, 0) >= sent, 5000);
    if (perPid().size >= 2) return perPid();
  }
  throw new Error('requests never reached both workers');
}
