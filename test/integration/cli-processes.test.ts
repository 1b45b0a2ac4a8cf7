// Found in review; each failed on the code before its fix.
// The real CLI as processes (server.workers > 1, signals, hot reload), from the run's one build of src/
// (buildCli; not dist/, which operations.test.ts rebuilds).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { adminGet, cliFixtures, eventually, jsonLines, lineArrives } from '../support/cli.js';
import { request } from '../support/client.js';
import { cnfX5t, type TestIssuer } from '../support/issuer.js';
import type { PkiFiles, TestPki } from '../support/pki.js';
import type { TestUpstream } from '../support/upstream.js';
import { freePort, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';

let cliJs: string;
let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;

beforeAll(async () => {
  ({ cliJs, pki, files, issuer, upstream } = await cliFixtures('dist-test-cluster'));
}, 120_000);
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

async function writeConfig(name: string, apiPort: number, adminPort: number): Promise<string> {
  const dir = join(files.dir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    stringify({
      server: { listen: `127.0.0.1:${apiPort}`, public_origin: 'https://api.test', workers: 2, tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      admin: { listen: `127.0.0.1:${adminPort}` },
      issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: upstream.url } }],
      replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('review-cluster') } },
    }),
  );
  return file;
}

function spawnCli(file: string): { child: ChildProcess; lines: Record<string, any>[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cliJs, '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, as under systemd or a terminal
    env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL },
  });
  const lines = jsonLines(child.stdout!);
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, lines, exited };
}

const killGroup = (child: ChildProcess, sig: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, sig);
  } catch {
    /* gone */
  }
};

describe('cluster mode operations', () => {
  it('SIGTERM to the whole process group (systemd KillMode=control-group, Ctrl-C): in-flight requests still complete, exit 0', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = await writeConfig('review-group-term', apiPort, adminPort);
    const { child, lines, exited } = spawnCli(file);
    upstream.delayMs = 1500;
    try {
      await eventually(async () => (await adminGet(`http://127.0.0.1:${adminPort}/readyz`).catch(() => ({ status: 0 }))).status === 200);
      const token = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
      const inflight = Array.from({ length: 10 }, () =>
        request(`https://127.0.0.1:${apiPort}/a/slow`, {
          ca: pki.ca.certPem,
          servername: 'localhost',
          cert: pki.client1.certPem,
          key: pki.client1.keyPem,
          headers: [['Authorization', `Bearer ${token}`]],
        }).then(
          (r) => r.status,
          (e: Error & { code?: string }) => e.code ?? e.message,
        ),
      );
      await new Promise((r) => setTimeout(r, 300));
      killGroup(child, 'SIGTERM');
      const statuses = await inflight;
      const code = await exited;
      const exitingNow = lines.filter((l) => l.msg === 'second signal: exiting now').length;
      expect({ statuses: await Promise.all(statuses), code, exitingNow }).toEqual({ statuses: Array(10).fill(200), code: 0, exitingNow: 0 });
    } finally {
      upstream.delayMs = 0;
      killGroup(child, 'SIGKILL');
    }
  }, 60_000);

  it('a worker that cannot start (API port taken) does not make the primary fork forever: it exits non-zero', async () => {
    const taken = createNetServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    const apiPort = (taken.address() as AddressInfo).port;
    const adminPort = await freePort();
    const file = await writeConfig('review-port-taken', apiPort, adminPort);
    const { child, lines, exited } = spawnCli(file);
    try {
      const code = await Promise.race([exited, new Promise<string>((ok) => setTimeout(() => ok('still running'), 8_000))]);
      const died = lines.filter((l) => l.msg === 'worker died; starting a new one').length;
      const live = await adminGet(`http://127.0.0.1:${adminPort}/livez`).then((r) => r.status, () => 0);
      expect({ code, live, fewRespawns: died <= 3 }).toEqual({ code: 1, live: 0, fewRespawns: true });
      // (died counts the respawns seen in those 8 s; live is /livez meanwhile)
    } finally {
      killGroup(child, 'SIGKILL');
      taken.close();
    }
  }, 30_000);

  it('readiness: a worker that stops answering (frozen event loop) makes /readyz 503, not a stale 200', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = await writeConfig('review-frozen-worker', apiPort, adminPort);
    const { child, lines } = spawnCli(file);
    let frozen: number | undefined;
    try {
      await eventually(async () => (await adminGet(`http://127.0.0.1:${adminPort}/readyz`).catch(() => ({ status: 0 }))).status === 200);
      const workerPids = [...new Set(lines.filter((l) => l.msg === 'fapi-gateway listening').map((l) => l.pid as number))];
      expect(workerPids).toHaveLength(2);
      frozen = workerPids[0]!;
      process.kill(frozen, 'SIGSTOP'); // stands for a worker stuck in a synchronous loop
      await new Promise((r) => setTimeout(r, 5000));
      const ready = await adminGet(`http://127.0.0.1:${adminPort}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      if (frozen !== undefined) try { process.kill(frozen, 'SIGCONT'); } catch { /* gone */ }
      killGroup(child, 'SIGKILL');
    }
  }, 60_000);
});

// Found in review too: a SIGHUP to the group killed the workers (they had no handler), and a refused
// reload naming a file not there yet was never retried when it appeared.
describe('server.workers: 2 and a process-group SIGHUP', () => {
  it('reloads instead of killing the workers', async () => {
    const file = join(files.dir, 'workers.yaml');
    writeFileSync(
      file,
      stringify({
        server: { listen: `127.0.0.1:${await freePort()}`, public_origin: 'https://api.test', workers: 2, tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
        admin: { listen: `127.0.0.1:${await freePort()}` },
        issuers: { as: { issuer: 'https://127.0.0.1:9', jwks_uri: 'https://127.0.0.1:9/jwks' } },
        replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('review-hup') } },
        routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['as'], audience: 'x' }, upstream: { url: 'http://127.0.0.1:9' } }],
      }),
    );
    const child = spawn(process.execPath, [cliJs, '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as under a terminal or a supervisor
      env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL },
    });
    const lines = jsonLines(child.stdout!);
    const exited = new Promise((ok) => child.on('exit', ok));
    try {
      expect(await lineArrives(lines, () => lines.filter((l) => l.msg === 'fapi-gateway listening').length === 2, 15_000)).toBe(true);
      process.kill(-child.pid!, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 3000));
      const died = lines.filter((l) => l.msg === 'worker died; starting a new one');
      expect(died, JSON.stringify(died)).toEqual([]);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  }, 60_000);
});

const reloadConfig = (clientCa?: string) => ({
  server: {
    listen: '127.0.0.1:0',
    public_origin: 'https://api.test',
    tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile, ...(clientCa !== undefined && { client_ca_file: clientCa }) },
  },
  issuers: { main: { issuer: 'https://127.0.0.1:9', jwks_uri: 'https://127.0.0.1:9/jwks' } },
  routes: [
    {
      id: 'a',
      match: { methods: ['GET'], path_prefix: '/a' },
      auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' },
      upstream: { url: 'http://127.0.0.1:9' },
    },
  ],
});

describe('hot reload of a config that names a file which appears a moment later', () => {
  it('is retried (applied) once the missing file is written', async () => {
    const dir = join(files.dir, 'review-reload');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(reloadConfig()));
    const child = spawn(process.execPath, [cliJs, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = jsonLines(child.stdout!);
    const exited = new Promise((ok) => child.on('exit', ok));
    try {
      expect(await lineArrives(lines, (l) => l.msg === 'fapi-gateway listening', 10_000)).toBe(true);
      // The new config names a client CA bundle that is not there yet: refused (correct).
      const newCa = join(files.dir, 'client-ca-next.pem');
      writeFileSync(file, stringify(reloadConfig(newCa)));
      expect(await lineArrives(lines, (l) => typeof l.msg === 'string' && l.msg.startsWith('config reload refused'), 10_000)).toBe(true);
      // The file arrives (the Secret update lands). The gateway should now apply the new config.
      writeFileSync(newCa, pki.ca.certPem);
      // The watcher's poll runs every 5 s; give it more than two rounds.
      expect(await lineArrives(lines, (l) => l.msg === 'config reloaded', 12_000), 'config reloaded after the missing file appeared').toBe(true);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);
});
