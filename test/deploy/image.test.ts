// What the container image runs, tested without Docker: the Dockerfile's shape, and its runtime stage
// rebuilt in a temp dir the same way (package*.json, `npm ci --omit=dev --ignore-scripts`, dist/ built by
// tsc, bin/, config/), then `check`, `schema`, and the gateway itself started as uid 10001 on a directory
// it cannot write, serving one real mTLS-bound request and draining on SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { request } from '../support/client.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki, type TestPki } from '../support/pki.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const repo = new URL('../../', import.meta.url).pathname;
const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const APP_UID = 10001;

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: (op as string).toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const all = instructions(dockerfile);
  const froms = all.filter((i) => i.op === 'FROM');
  const runtimeStart = all.indexOf(froms[froms.length - 1] as (typeof all)[number]);
  const runtime = all.slice(runtimeStart);
  const build = all.slice(0, runtimeStart);

  it('has two stages, build and runtime, on node:24-bookworm-slim pinned by tag', () => {
    expect(froms.map((f) => f.args)).toEqual(['node:24-bookworm-slim AS build', 'node:24-bookworm-slim AS runtime']);
  });

  it('build stage: npm ci, then npm run build', () => {
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.findIndex((r) => r.startsWith('npm ci'))).toBeGreaterThanOrEqual(0);
    expect(runs.findIndex((r) => r.startsWith('npm run build'))).toBeGreaterThan(runs.findIndex((r) => r.startsWith('npm ci')));
  });

  it('runtime stage: production env, production dependencies only, build output copied, non-root', () => {
    expect(runtime).toContainEqual({ op: 'ENV', args: 'NODE_ENV=production' });
    const install = runtime.find((i) => i.op === 'RUN' && i.args.startsWith('npm ci'));
    expect(install?.args).toContain('--omit=dev');
    expect(install?.args).toContain('--ignore-scripts');
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toContain('package.json package-lock.json ./');
    for (const dir of ['dist', 'bin', 'config']) expect(copies).toContain(`--from=build /src/${dir} ./${dir}`);
    const users = runtime.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/^(root|0)(:|$)/);
    expect(users[0]).toBe(`${APP_UID}:${APP_UID}`);
  });

  it('exposes 8443 and 9090, and starts node directly (exec form) so signals reach it', () => {
    const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(['8443', '9090']));
    const entrypoint = runtime.find((i) => i.op === 'ENTRYPOINT')?.args ?? '';
    expect(JSON.parse(entrypoint)).toEqual(['node', 'bin/fapi-gateway.js']);
    const cmd = runtime.find((i) => i.op === 'CMD')?.args ?? '';
    expect(JSON.parse(cmd)).toEqual(['--config', '/etc/fapi-gateway/config.yaml']);
  });

  it('every COPY source exists in the repo and is not excluded by .dockerignore', () => {
    const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', 'test', 'bench', 'coverage', '*.log']));
    const ignored = (p: string): boolean =>
      ignore.some((pat) => (pat.startsWith('*') ? p.endsWith(pat.slice(1)) : p === pat || p.startsWith(`${pat}/`)));
    const sources = all
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(existsSync(join(repo, s)), s).toBe(true);
      expect(ignored(s), s).toBe(false);
    }
  });
});

// ---- the runtime stage, rebuilt in a temp dir -----------------------------------------------------

const run = (cmd: string, args: string[], cwd: string, timeout = 60_000) =>
  spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_ENV: 'production' } });

/** Every path under dir (for "the gateway wrote nothing"). */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    }).on('error', fail);
  });
}

describe('the runtime image contents, without Docker', () => {
  let app: string;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'fapi-image-'));
    await chmod(app, 0o755); // readable by the unprivileged gateway user, writable by root only
    for (const f of ['package.json', 'package-lock.json']) await cp(join(repo, f), join(app, f));
    for (const d of ['bin', 'config']) await cp(join(repo, d), join(app, d), { recursive: true });
    const tsc = run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], repo);
    expect(tsc.status, `${tsc.stdout}${tsc.stderr}`).toBe(0);
    // Needs the npm registry (or a warm npm cache): allow two minutes.
    const ci = run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], app, 120_000);
    expect(ci.status, `npm ci: ${ci.stdout}${ci.stderr}${ci.error?.message ?? ''}`).toBe(0);
  }, 200_000);

  afterAll(async () => {
    if (app !== undefined) await rm(app, { recursive: true, force: true });
  });

  it('has dist/cli.js where bin/fapi-gateway.js imports it', () => {
    expect(readFileSync(join(app, 'bin/fapi-gateway.js'), 'utf8')).toContain("'../dist/cli.js'");
    expect(existsSync(join(app, 'dist/cli.js'))).toBe(true);
  });

  it('installs every dependency and no devDependency', () => {
    for (const name of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', name, 'package.json')), name).toBe(true);
    for (const name of Object.keys(pkg.devDependencies)) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(existsSync(join(app, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
  });

  it('`check --config config/example.yaml` exits 0 and prints the route table', () => {
    const r = run(process.execPath, ['bin/fapi-gateway.js', 'check', '--config', 'config/example.yaml'], app);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('config config/example.yaml is valid');
    expect(r.stdout).toMatch(/^ROUTE\s+METHODS\s+HOST\s+PATH/m);
    expect(r.stdout).toMatch(/^accounts-read\s+GET\s/m);
    expect(r.stdout).toMatch(/^payments-create\s+POST\s/m);
  });

  it('`check` on a broken config exits 1', () => {
    const r = run(process.execPath, ['bin/fapi-gateway.js', 'check', '--config', 'config/does-not-exist.yaml'], app);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot read');
  });

  it('`--version` prints the version of the package the image holds (newcomer walk-through: there was no way to tell)', () => {
    const r = run(process.execPath, ['bin/fapi-gateway.js', '--version'], app);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`fapi-gateway ${pkg.version} (Node.js ${process.version})\n`);
  });

  it('`schema` prints the config JSON Schema', () => {
    const r = run(process.execPath, ['bin/fapi-gateway.js', 'schema'], app);
    expect(r.status).toBe(0);
    const schema = JSON.parse(r.stdout) as { type: string; properties: Record<string, unknown>; required: string[] };
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['server', 'issuers', 'routes']));
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['server', 'admin', 'issuers', 'replay', 'routes']));
  });

  describe('run, as the image does', () => {
    let pki: TestPki;
    let issuer: TestIssuer;
    let upstream: TestUpstream;
    let child: ChildProcess | undefined;
    let stdout = '';
    let stderr = '';
    let before: string[];
    const asRoot = process.getuid?.() === 0;
    let nodeCopyDir: string | undefined;

    beforeAll(async () => {
      pki = await testPki();
      issuer = await startIssuer({ pki });
      upstream = await startUpstream();
      // /etc/fapi-gateway as the chart mounts it: config.yaml, and tls/ like a Secret with fsGroup 10001.
      const etc = join(app, 'etc');
      await mkdir(join(etc, 'tls'), { recursive: true });
      await writeFile(join(etc, 'tls/tls.crt'), pki.server.certPem, { mode: 0o444 });
      await writeFile(join(etc, 'tls/ca.crt'), pki.ca.certPem, { mode: 0o444 });
      await writeFile(join(etc, 'tls/tls.key'), pki.server.keyPem, { mode: 0o440 });
      if (asRoot) await chown(join(etc, 'tls/tls.key'), 0, APP_UID);
      else await chmod(join(etc, 'tls/tls.key'), 0o400);
      await writeFile(
        join(etc, 'config.yaml'),
        stringify({
          server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'tls/tls.crt', key_file: 'tls/tls.key' } },
          admin: { listen: '127.0.0.1:0' },
          issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: 'tls/ca.crt' } },
          routes: [
            {
              id: 'accounts',
              match: { methods: ['GET'], path_prefix: '/accounts' },
              auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any', scopes: { all_of: ['accounts'] } },
              upstream: { url: upstream.url, timeout_ms: 2000 },
            },
          ],
        }),
        { mode: 0o444 },
      );
      before = listing(app);
    });

    afterAll(async () => {
      if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
      if (nodeCopyDir !== undefined) await rm(nodeCopyDir, { recursive: true, force: true });
      await upstream?.close();
      await issuer?.close();
    });

    // The node binary may live where uid 10001 cannot reach it (CI keeps it under root's home): then
    // run a copy, as the image has its own node.
    const nodeFor = async (): Promise<string> => {
      if (!asRoot || spawnSync(process.execPath, ['-e', ''], { uid: APP_UID, gid: APP_UID }).status === 0) return process.execPath;
      const dir = (nodeCopyDir = await mkdtemp(join(tmpdir(), 'fapi-node-')));
      await chmod(dir, 0o755);
      const copy = join(dir, 'node');
      await copyFile(process.execPath, copy);
      await chmod(copy, 0o755);
      return copy;
    };

    const started = async (): Promise<{ api: string; admin: string }> => {
      const node = await nodeFor();
      return new Promise((ok, fail) => {
        // ENTRYPOINT ["node", "bin/fapi-gateway.js"] + the config path, as uid 10001 with NODE_ENV=production.
        const c = spawn(node, ['bin/fapi-gateway.js', '--config', join(app, 'etc/config.yaml')], {
          cwd: app,
          env: { PATH: process.env.PATH, NODE_ENV: 'production' },
          ...(asRoot && { uid: APP_UID, gid: APP_UID }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = c;
        const timer = setTimeout(() => fail(new Error(`gateway did not start: ${stdout}${stderr}`)), 15_000);
        c.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.stdout?.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          for (const line of stdout.split('\n')) {
            if (!line.includes('fapi-gateway listening')) continue;
            const l = JSON.parse(line) as { api: string; admin: string };
            clearTimeout(timer);
            ok({ api: l.api, admin: l.admin });
          }
        });
        c.on('exit', (code) => {
          clearTimeout(timer);
          fail(new Error(`gateway exited ${code}: ${stdout}${stderr}`));
        });
      });
    };

    it('starts, becomes ready, serves an mTLS-bound request, refuses one without a token, drains on SIGTERM', async () => {
      const { api, admin } = await started();
      expect(api).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const status = `/proc/${child?.pid}/status`;
      if (asRoot && existsSync(status)) expect(readFileSync(status, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${APP_UID}\\s`, 'm'));
      expect((await httpGet(`${admin}/livez`)).status).toBe(200);

      // Up to dpop.iat_future_s (10 s) and a little: a fresh memory replay store is not ready before it
      // accepts every proof (DPOP-21), and this config has a route that takes DPoP.
      let ready = await httpGet(`${admin}/readyz`);
      for (let i = 0; i < 150 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await httpGet(`${admin}/readyz`);
      }
      expect(ready, 'readyz').toEqual({ status: 200, body: 'ready\n' });

      const tls = { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client1.certPem, key: pki.client1.keyPem };
      const token = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
      const ok = await request(`${api}/accounts/42`, { ...tls, headers: [['Authorization', `Bearer ${token}`]] });
      expect(ok.status).toBe(200);
      expect(upstream.received).toHaveLength(1);
      expect(upstream.received[0]?.url).toBe('/accounts/42');
      expect(upstream.received[0]?.headers['x-authenticated-subject']).toBe('user-1');
      expect(upstream.received[0]?.headers.authorization).toBeUndefined();

      const refused = await request(`${api}/accounts/42`, tls);
      expect(refused.status).toBe(401);
      expect(upstream.received).toHaveLength(1);

      const exited = new Promise<number | null>((ok) => child?.once('exit', (code) => ok(code)));
      child?.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
      const lines = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; service: string });
      expect(lines.every((l) => l.service === 'fapi-gateway')).toBe(true); // every stdout line is a JSON log line
      expect(lines.map((l) => l.msg)).toContain('draining');
      // Read-only root filesystem friendly: nothing was written next to the app.
      expect(listing(app)).toEqual(before);
    }, 30_000);
  });
});
