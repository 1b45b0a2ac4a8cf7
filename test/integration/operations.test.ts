// The real CLI as an operator runs it: readiness, hot reload (SIGHUP, file change, ConfigMap symlink swap),
// a Secret-style certificate rotation, an invalid reload refused, graceful shutdown under load, second signal.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { get } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { request } from '../support/client.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { issueServerCert, testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { freePort, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { parse } from 'yaml';

const stringifyAdmin = (file: string): string => (parse(readFileSync(file, 'utf8')) as { admin: { listen: string } }).admin.listen;

const ROOT = new URL('../../', import.meta.url).pathname;
let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;

beforeAll(async () => {
  // The CLI runs from dist/, as in production.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  pki = await testPki();
  files = await writePki(undefined, pki);
  issuer = await startIssuer({ pki });
  upstream = await startUpstream();
}, 120_000);
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

const config = (routes: string[]) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
  admin: { listen: '127.0.0.1:0' },
  issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
  routes: routes.map((p) => ({
    id: p.slice(1),
    match: { methods: ['GET'], path_prefix: p },
    auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' },
    upstream: { url: upstream.url },
  })),
});

interface Proc {
  child: ChildProcess;
  lines: Record<string, any>[];
  api: string;
  admin: string;
  exited: Promise<number | null>;
  waitFor(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
}

async function startCli(configPath: string, env?: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env !== undefined && { env: { ...process.env, ...env } }),
  });
  const lines: Record<string, any>[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim() !== '') lines.push(JSON.parse(p));
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  const waitFor = async (pred: (l: Record<string, any>) => boolean, ms = 10_000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const hit = lines.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`log line not seen; stderr: ${stderr}; lines: ${JSON.stringify(lines.slice(-5))}`);
  };
  const up = await waitFor((l) => l.msg === 'fapi-gateway listening');
  return { child, lines, api: up.api, admin: up.admin, exited, waitFor };
}

const adminGet = (url: string): Promise<{ status: number; body: string }> =>
  new Promise((ok, fail) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    }).on('error', fail);
  });

async function call(p: Proc, path: string) {
  const token = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
  return request(`${p.api}${path}`, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client1.certPem, key: pki.client1.keyPem, headers: [['Authorization', `Bearer ${token}`]] });
}

async function eventually(f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

describe('operations: readiness, hot reload, graceful shutdown', () => {
  it('readiness turns 200 once keys are fetched; SIGHUP applies a changed route without dropping a request; a bad file is refused', async () => {
    const dir = join(files.dir, 'ops-sighup');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(config(['/a'])));
    const p = await startCli(file);
    try {
      await eventually(async () => (await adminGet(`${p.admin}/readyz`)).status === 200);
      expect((await adminGet(`${p.admin}/livez`)).status).toBe(200);
      expect((await call(p, '/a/1')).status).toBe(200);
      expect((await call(p, '/b/1')).status).toBe(404);

      // Load while the config changes: no request may fail.
      let stop = false;
      const statuses: number[] = [];
      const load = (async () => {
        while (!stop) statuses.push((await call(p, '/a/1')).status);
      })();
      writeFileSync(file, stringify(config(['/a', '/b'])));
      p.child.kill('SIGHUP');
      await p.waitFor((l) => l.msg === 'config reloaded');
      await eventually(async () => (await call(p, '/b/1')).status === 200);
      stop = true;
      await load;
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.every((s) => s === 200)).toBe(true);

      // An invalid file: refused, logged, counted, and the old config keeps serving.
      writeFileSync(file, 'server: [not valid');
      p.child.kill('SIGHUP');
      await p.waitFor((l) => l.msg?.startsWith('config reload refused'));
      expect((await call(p, '/b/1')).status).toBe(200);
      const metrics = (await adminGet(`${p.admin}/metrics`)).body;
      expect(metrics).toMatch(/fapi_gateway_config_reloads_total\{result="error"\} [1-9]/);
      expect(metrics).toMatch(/fapi_gateway_requests_total\{route="a",decision="allow",reason="OK",status="200"\} [1-9]/);
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }, 60_000);

  it('a ConfigMap-style symlink swap is picked up without a signal', async () => {
    const dir = join(files.dir, 'ops-configmap');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, '..v1'), { recursive: true });
    writeFileSync(join(dir, '..v1', 'config.yaml'), stringify(config(['/a'])));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
    const p = await startCli(join(dir, 'config.yaml'));
    try {
      expect((await call(p, '/c/1')).status).toBe(404);
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'config.yaml'), stringify(config(['/a', '/c'])));
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await p.waitFor((l) => l.msg === 'config reloaded', 15_000);
      expect((await call(p, '/c/1')).status).toBe(200);
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }, 60_000);

  it('TLS-1: a Secret-style rotation of the server certificate reaches new connections without a signal', async () => {
    // A kubernetes.io/tls Secret volume, as cert-manager renews it: versioned directories behind `..data`.
    const dir = join(files.dir, 'ops-secret');
    rmSync(dir, { recursive: true, force: true });
    const put = (version: string, pem: { certPem: string; keyPem: string }): void => {
      mkdirSync(join(dir, version), { recursive: true });
      writeFileSync(join(dir, version, 'tls.crt'), pem.certPem);
      writeFileSync(join(dir, version, 'tls.key'), pem.keyPem, { mode: 0o600 });
    };
    put('..v1', pki.server);
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    const cfg = config(['/a']);
    cfg.server.tls = { cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') };
    const cfgFile = join(files.dir, 'ops-secret.yaml');
    writeFileSync(cfgFile, stringify(cfg));
    const served = (p: Proc): Promise<string> =>
      new Promise((ok, fail) => {
        const u = new URL(p.api);
        const s = connect({ host: u.hostname, port: Number(u.port), servername: 'localhost', ca: pki.ca.certPem, cert: pki.client1.certPem, key: pki.client1.keyPem }, () => {
          ok(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.on('error', fail);
      });
    const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
    const p = await startCli(cfgFile);
    try {
      expect(await served(p)).toBe(fingerprint(pki.server.certPem));
      const renewed = await issueServerCert(pki.ca, { cn: 'localhost', rsa: true });
      put('..v2', renewed);
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await p.waitFor((l) => l.msg === 'config reloaded', 15_000);
      expect(await served(p)).toBe(fingerprint(renewed.certPem));
      expect((await call(p, '/a/1')).status).toBe(200);
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }, 60_000);

  it('SIGTERM under load: readiness 503, in-flight requests complete with no 5xx, exit 0', async () => {
    const dir = join(files.dir, 'ops-term');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(config(['/a'])));
    const p = await startCli(file);
    upstream.delayMs = 700;
    try {
      await eventually(async () => (await adminGet(`${p.admin}/readyz`)).status === 200);
      const inflight = Array.from({ length: 20 }, () => call(p, '/a/slow'));
      await new Promise((r) => setTimeout(r, 200));
      p.child.kill('SIGTERM');
      await p.waitFor((l) => l.msg === 'draining');
      const ready = await adminGet(`${p.admin}/readyz`).catch(() => ({ status: 503, body: 'closed' }));
      expect(ready.status).toBe(503);
      const results = await Promise.all(inflight);
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(await p.exited).toBe(0);
    } finally {
      upstream.delayMs = 0;
      p.child.kill('SIGKILL');
    }
  }, 60_000);

  it('server.workers: 2 shares the listener, aggregates metrics, and stops cleanly; memory store refused', async () => {
    const dir = join(files.dir, 'ops-workers');
    mkdirSync(dir, { recursive: true });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ ...config(['/a']), server: { ...config(['/a']).server, workers: 2 } }));
    const check = spawnSync(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), 'check', '--config', bad], { encoding: 'utf8' });
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('server.workers');

    const file = join(dir, 'config.yaml');
    const c = config(['/a']);
    writeFileSync(
      file,
      stringify({
        ...c,
        server: { ...c.server, listen: `127.0.0.1:${await freePort()}`, workers: 2 },
        admin: { listen: `127.0.0.1:${await freePort()}` },
        replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('workers') } },
      }),
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL },
    });
    const lines: Record<string, any>[] = [];
    child.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l.trim().startsWith('{')) lines.push(JSON.parse(l));
    });
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    try {
      await eventually(async () => lines.filter((l) => l.msg === 'fapi-gateway listening').length === 2);
      const api = lines.find((l) => l.msg === 'fapi-gateway listening')!.api as string;
      const adminUrl = `http://${(stringifyAdmin(file))}`;
      await eventually(async () => (await adminGet(`${adminUrl}/readyz`).catch(() => ({ status: 0 }))).status === 200);
      const p = { api } as Proc;
      const results = await Promise.all(Array.from({ length: 20 }, () => call(p, '/a/1')));
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      // Log lines are written in batches, at least once a second.
      await eventually(async () => lines.filter((l) => l.msg === 'allow').length >= 20);
      const pids = new Set(lines.filter((l) => l.msg === 'allow').map((l) => l.pid));
      expect(pids.size).toBe(2);
      const metrics = (await adminGet(`${adminUrl}/metrics`)).body;
      expect(metrics).toMatch(/fapi_gateway_requests_total\{route="a",decision="allow",reason="OK",status="200"\} 20/);
      // A reload cannot change the number of processes: each worker says a restart is needed.
      const cfg = parse(readFileSync(file, 'utf8')) as Record<string, any>;
      writeFileSync(file, stringify({ ...cfg, server: { ...cfg.server, workers: 3 } }));
      child.kill('SIGHUP');
      const reloaded = () => lines.filter((l) => l.msg === 'config reloaded');
      await eventually(async () => new Set(reloaded().map((l) => l.pid)).size === 2);
      for (const l of reloaded()) expect(l.needs_restart).toEqual(['workers']);
      expect((await call(p, '/a/1')).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('check reads the TLS files as the start does; files not on this machine are a note; compile-stage problems have lines', () => {
    const dir = join(files.dir, 'ops-check-files');
    mkdirSync(dir, { recursive: true });
    const check = (name: string, cfg: object) => {
      const f = join(dir, name);
      writeFileSync(f, stringify(cfg));
      return spawnSync(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), 'check', '--config', f], { encoding: 'utf8' });
    };
    const c = config(['/a']);
    const ok = check('ok.yaml', c);
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringContaining('is valid')]);
    expect(ok.stdout).not.toContain('note:');
    // A key that is not the certificate's: the start would refuse it, so check does.
    const wrongKey = check('wrong-key.yaml', { ...c, server: { ...c.server, tls: { cert_file: files.serverCertFile, key_file: files.client1KeyFile } } });
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.stderr).toContain('does not belong to the certificate');
    // Files that are not here (Secrets not mounted in CI): valid, with a note naming them.
    const absent = check('absent.yaml', { ...c, server: { ...c.server, tls: { cert_file: 'nowhere/server.crt', key_file: 'nowhere/server.key' } } });
    expect(absent.status).toBe(0);
    expect(absent.stdout).toMatch(/note: not found here, so not checked .*nowhere\/server\.crt, .*nowhere\/server\.key\n$/);
    // Valid but probably not meant: preserve_host on a route any Host reaches is a note.
    const [r0] = c.routes as [(typeof c.routes)[number]];
    const anyHost = check('preserve-host.yaml', { ...c, routes: [{ ...r0, upstream: { ...r0.upstream, preserve_host: true } }] });
    expect(anyHost.status).toBe(0);
    expect(anyHost.stdout).toMatch(/\nnote: route \S+: upstream\.preserve_host without match\.host sends the upstream any Host a client chooses/);
    const oneHost = check('preserve-host-matched.yaml', { ...c, routes: [{ ...r0, match: { ...r0.match, host: 'api.test' }, upstream: { ...r0.upstream, preserve_host: true } }] });
    expect(oneHost.stdout).not.toContain('note:');
    // Two overlapping routes: the problem names its key path and line.
    const two = config(['/a', '/a']);
    const overlap = check('overlap.yaml', { ...two, routes: [two.routes[0], { ...two.routes[1], id: 'b' }] });
    expect(overlap.status).toBe(1);
    expect(overlap.stderr).toMatch(/routes\[1\]\.match \(line \d+\): overlaps route a/);
  });

  it('an unknown option prints what is wrong and the usage, exit 1, no stack trace', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), 'check', '--confg', 'x.yaml'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Unknown option '--confg'");
    expect(r.stderr).toContain('usage:');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a start that fails after the API listener is up (admin port taken) exits 1 and serves nothing', async () => {
    const dir = join(files.dir, 'ops-admin-taken');
    mkdirSync(dir, { recursive: true });
    const taken = createNetServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    const apiPort = await freePort();
    const file = join(dir, 'config.yaml');
    const c = config(['/a']);
    writeFileSync(file, stringify({ ...c, server: { ...c.server, listen: `127.0.0.1:${apiPort}` }, admin: { listen: `127.0.0.1:${(taken.address() as AddressInfo).port}` } }));
    const child = spawn(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const code = await Promise.race([new Promise<number | null>((ok) => child.on('exit', ok)), new Promise<string>((ok) => setTimeout(() => ok('still running'), 10_000))]);
      expect(code).toBe(1);
      expect(stderr).toContain('EADDRINUSE');
      const api = await call({ api: `https://127.0.0.1:${apiPort}` } as Proc, '/a/1').then((r) => r.status, (e: Error & { code?: string }) => e.code);
      expect(api).toBe('ECONNREFUSED');
    } finally {
      child.kill('SIGKILL');
      taken.close();
    }
  }, 30_000);

  it('server.workers: 2 with an IPv6 admin address ([::1]) starts and answers /readyz', async () => {
    const dir = join(files.dir, 'ops-workers-v6');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    const c = config(['/a']);
    const adminPort = await freePort();
    writeFileSync(
      file,
      stringify({
        ...c,
        server: { ...c.server, listen: `127.0.0.1:${await freePort()}`, workers: 2 },
        admin: { listen: `[::1]:${adminPort}` },
        replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('workers-v6') } },
      }),
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/fapi-gateway.js'), '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEST_REDIS_URL: SHARED_REDIS_URL },
    });
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    try {
      await eventually(async () => (await adminGet(`http://[::1]:${adminPort}/readyz`).catch(() => ({ status: 0 }))).status === 200, 20_000);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('a second signal exits at once', async () => {
    const dir = join(files.dir, 'ops-twice');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(config(['/a'])));
    const p = await startCli(file);
    upstream.behaviour = 'hang';
    try {
      const stuck = call(p, '/a/hang').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      p.child.kill('SIGTERM');
      await p.waitFor((l) => l.msg === 'draining');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(1);
      await stuck;
    } finally {
      upstream.behaviour = 'ok';
      p.child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('TLS-11: an HTTPS upstream with a private CA', () => {
  it('is verified: refused without its CA (502), trusted through NODE_EXTRA_CA_CERTS (200)', async () => {
    const legacy = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json').end('{"ok":true}');
    });
    await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r));
    const dir = join(files.dir, 'ops-https-upstream');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.yaml');
    const cfg = config(['/a']);
    cfg.routes[0]!.upstream.url = `https://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
    writeFileSync(file, stringify(cfg));
    try {
      for (const [env, status] of [[undefined, 502], [{ NODE_EXTRA_CA_CERTS: files.caFile }, 200]] as const) {
        const p = await startCli(file, env);
        try {
          await eventually(async () => (await adminGet(`${p.admin}/readyz`)).status === 200);
          const r = await call(p, '/a/1');
          expect(r.status).toBe(status);
          if (status === 502) expect((await p.waitFor((l) => l.reason === 'GW_UPSTREAM_UNAVAILABLE')).detail).toMatch(/UNABLE_TO_VERIFY|CERT_|SELF_SIGNED/);
        } finally {
          p.child.kill('SIGKILL');
          await p.exited;
        }
      }
    } finally {
      legacy.closeAllConnections();
      await new Promise<void>((r) => legacy.close(() => r()));
    }
  }, 60_000);
});
