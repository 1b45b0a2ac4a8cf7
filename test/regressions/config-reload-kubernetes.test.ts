// Found in review (fixed; the test failed before): Review of configuration loading, validation, hot reload and file watching, as a platform engineer
// runs the gateway in Kubernetes: ConfigMap and Secret volumes (`..data` symlink swaps), cert-manager
// renewals, `check` in CI. The real CLI as a process (buildCli), real TLS.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { cliFixtures, jsonLines, lineArrives, startVerdict } from '../support/cli.js';
import type { TestIssuer } from '../support/issuer.js';
import { issueServerCert, type PkiFiles, type TestPki } from '../support/pki.js';
import { secretVolume, servedFingerprint } from '../support/secret-volume.js';
import type { TestUpstream } from '../support/upstream.js';

let cliJs: string;
let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;

beforeAll(async () => {
  ({ cliJs, pki, files, issuer, upstream } = await cliFixtures('dist-config-reload'));
}, 120_000);
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

type Raw = Record<string, any>;
const config = (tls?: Raw): Raw => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: tls ?? { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
  issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
  routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: upstream.url } }],
});

function spawnCli(file: string): { child: ChildProcess; lines: Record<string, any>[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cliJs, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = jsonLines(child.stdout!);
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, lines, exited };
}

const check = (f: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('hot reload: certificate rotation while the config file on disk is refused', () => {
  it('a cert-manager renewal is served although a later (bad) ConfigMap edit was refused', async () => {
    // README "Operating it": "An invalid file is refused ... and the old config keeps serving" and
    // "a Secret that cert-manager renews is served to new connections without a signal or a restart".
    // Bug: every file change (cli.ts:234-243 reload()) re-reads the config *file*; while the file on
    // disk is one that was refused, the renewed certificate is refused with it ("config reload refused"
    // again), so the old config keeps serving its old certificate until it expires (an outage), though
    // nothing about the serving config is wrong. src/cli.ts:238-242 (and main.ts reload()).
    const dir = join(files.dir, 'review-config-secret');
    const secret = secretVolume(dir, pki.server);
    const cfgFile = join(files.dir, 'review-config-secret.yaml');
    writeFileSync(cfgFile, stringify(config({ cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') })));
    const p = spawnCli(cfgFile);
    try {
      expect(await lineArrives(p.lines, (l) => l.msg === 'fapi-gateway listening', 10_000)).toBe(true);
      const api = p.lines.find((l) => l.msg === 'fapi-gateway listening')!.api as string;
      expect(await servedFingerprint(Number(new URL(api).port), pki.ca.certPem)).toBe(fingerprint(pki.server.certPem));

      // Someone pushes a ConfigMap with a typo: refused, the old config keeps serving (as promised).
      const bad = config({ cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') });
      bad.server.interaction_idd = 'strict';
      writeFileSync(cfgFile, stringify(bad));
      expect(await lineArrives(p.lines, (l) => l.msg === 'config reload refused; the previous config keeps serving', 10_000)).toBe(true);

      // cert-manager renews the Secret meanwhile.
      const renewed = await issueServerCert(pki.ca, { cn: 'localhost' });
      secret.swap(renewed);
      const until = Date.now() + 10_000;
      let now = await servedFingerprint(Number(new URL(api).port), pki.ca.certPem);
      while (now !== fingerprint(renewed.certPem) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        now = await servedFingerprint(Number(new URL(api).port), pki.ca.certPem);
      }
      expect(now, 'the renewed certificate is served to new connections').toBe(fingerprint(renewed.certPem));
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }, 60_000);

  it('passing: a mismatched certificate/key pair mid-rotation is refused and the old pair keeps serving; the next swap applies', async () => {
    // Pins README "a new certificate with a key that does not match it yet is refused, and the next change retried".
    const dir = join(files.dir, 'review-config-secret-mismatch');
    const secret = secretVolume(dir, pki.server);
    const cfgFile = join(files.dir, 'review-config-secret-mismatch.yaml');
    writeFileSync(cfgFile, stringify(config({ cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') })));
    const p = spawnCli(cfgFile);
    try {
      expect(await lineArrives(p.lines, (l) => l.msg === 'fapi-gateway listening', 10_000)).toBe(true);
      const api = p.lines.find((l) => l.msg === 'fapi-gateway listening')!.api as string;
      const r1 = await issueServerCert(pki.ca, { cn: 'localhost' });
      const r2 = await issueServerCert(pki.ca, { cn: 'localhost' });
      secret.swap(r1);
      expect(await lineArrives(p.lines, (l) => l.msg === 'config reloaded', 10_000)).toBe(true);
      expect(await servedFingerprint(Number(new URL(api).port), pki.ca.certPem)).toBe(fingerprint(r1.certPem));
      secret.swap({ certPem: r2.certPem, keyPem: r1.keyPem });
      expect(await lineArrives(p.lines, (l) => typeof l.msg === 'string' && l.msg.startsWith('config reload refused') && /does not belong/.test(l.detail), 10_000)).toBe(true);
      expect(await servedFingerprint(Number(new URL(api).port), pki.ca.certPem)).toBe(fingerprint(r1.certPem));
      secret.swap(r2);
      expect(await lineArrives(p.lines, () => p.lines.filter((l) => l.msg === 'config reloaded').length >= 2, 10_000)).toBe(true);
      expect(await servedFingerprint(Number(new URL(api).port), pki.ca.certPem)).toBe(fingerprint(r2.certPem));
      expect(p.child.exitCode).toBe(null);
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }, 60_000);
});

describe('YAML anchors and aliases', () => {
  it('a config of 150 routes that share one auth and one upstream block through an anchor is valid', () => {
    // README "Config reference" (YAML; check names "the key path and line of every problem"). Bug:
    // parseConfig calls doc.toJS() with the yaml library's default maxAliasCount of 100
    // (src/config/load.ts:75), meant for untrusted input: the 101st use of an anchor throws
    // "Excessive alias count indicates a resource exhaustion attack", so a bank's ordinary DRY config
    // (one `auth: &fapi` block for every endpoint) cannot start, and the refusal names no key or line.
    const dir = join(files.dir, 'review-config-anchors');
    mkdirSync(dir, { recursive: true });
    let text = `server: { listen: "127.0.0.1:0", public_origin: "https://api.test", tls: { cert_file: ${JSON.stringify(files.serverCertFile)}, key_file: ${JSON.stringify(files.serverKeyFile)} } }
issuers: { main: { issuer: "https://as.test", jwks_uri: "https://as.test/jwks", ca_file: ${JSON.stringify(files.caFile)} } }
routes:
`;
    for (let i = 0; i < 150; i++) {
      const auth = i === 0 ? '&fapi { issuers: [main], audience: "https://api.test", binding: mtls }' : '*fapi';
      const up = i === 0 ? '&legacy { url: "http://127.0.0.1:1" }' : '*legacy';
      text += `  - id: r${i}\n    match: { methods: [GET], path_prefix: /api${i} }\n    auth: ${auth}\n    upstream: ${up}\n`;
    }
    const f = join(dir, 'anchors.yaml');
    writeFileSync(f, text);
    const r = check(f);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('passing: a billion-laughs alias bomb is still refused promptly, with exit 1 and no stack trace', () => {
    const dir = join(files.dir, 'review-config-anchors');
    mkdirSync(dir, { recursive: true });
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 9; i++) text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const f = join(dir, 'lol.yaml');
    writeFileSync(f, text);
    const t0 = Date.now();
    const r = check(f);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('secrets from the environment', () => {
  it('a Redis URL whose password holds a raw % (not percent-encoded): check and the start agree', async () => {
    // README: "A Redis URL in url_env that is not redis:// or rediss:// is refused with the config" and
    // check "exits 0 when the config is valid". Bug: load.ts:277-280 judges the URL with WHATWG
    // URL.parse, which takes `redis://:p%zz@host`, but ioredis parses it with the legacy url.parse,
    // which throws URIError "URI malformed" (src/replay/redis.ts:127): check says valid, the start (or
    // a reload) fails with a message that names no setting. A generated password with a `%` in it is
    // common.
    const dir = join(files.dir, 'review-config-redis');
    mkdirSync(dir, { recursive: true });
    const c = config();
    c.replay = { store: 'redis', redis: { url_env: 'REVIEW_CONFIG_REDIS_URL', key_prefix: 'fapi-test:review-config:' } };
    const f = join(dir, 'redis.yaml');
    writeFileSync(f, stringify(c));
    const env = { REVIEW_CONFIG_REDIS_URL: 'redis://:s3cr%zzet@127.0.0.1:6379' };
    const verdict = await startVerdict(f, env);
    const r = check(f, env);
    // Whatever the verdict, check must give the same one (and neither may print the password).
    expect(`${r.stdout}${r.stderr}${verdict ?? ''}`).not.toContain('s3cr%zzet');
    if (verdict === undefined) expect(r.status).toBe(0);
    else {
      expect(r.status, `the start refuses it (${verdict}), so check must not say valid`).toBe(1);
      expect(verdict).toContain('REVIEW_CONFIG_REDIS_URL');
    }
  });
});

describe('check output in CI logs', () => {
  it('an upstream.url query that carries the key the legacy upstream expects is not printed by check', () => {
    // README upstream.url: "No user:password@ (it would be printed by check and logged)"; a query
    // "comes first" and is fixed per route, and src/route/query.ts:6 names what it is for: "a tenant,
    // a key the legacy upstream expects". Bug: formatRouteTable prints r.upstream.url.href whole
    // (src/cli.ts:137), so `check` in a CI job writes that key into the job log, which the userinfo
    // rule exists to prevent.
    const dir = join(files.dir, 'review-config-check-query');
    mkdirSync(dir, { recursive: true });
    const c = config();
    c.routes[0].upstream = { url: 'http://legacy.internal:8080/api?api_key=SECRET-7d1f0c2e9b' };
    const f = join(dir, 'query-key.yaml');
    writeFileSync(f, stringify(c));
    const r = check(f);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('legacy.internal:8080');
    expect(r.stdout).not.toContain('SECRET-7d1f0c2e9b');
  });
});

describe('values that look expanded but are not', () => {
  it('an unresolved YAML tag (`!env NAME`, `!secret`) is refused, not read as the literal text', () => {
    // README: "config values are never expanded" (a `${VAR}` host is refused). Bug: the yaml library
    // reports an unknown tag as a warning (doc.warnings), which parseConfig never looks at
    // (src/config/load.ts:69 checks doc.errors only): `audience: !env API_AUDIENCE` silently becomes
    // the audience "API_AUDIENCE", `key_prefix: !env PREFIX` the prefix "PREFIX"; check says valid.
    const text = `
server: { listen: "127.0.0.1:0", public_origin: "https://api.test", tls: { cert_file: a, key_file: b } }
issuers: { main: { issuer: "https://as.test", jwks_uri: "https://as.test/jwks" } }
routes:
  - id: r
    match: { methods: [GET], path_prefix: /x }
    auth: { issuers: [main], audience: !env API_AUDIENCE }
    upstream: { url: "http://127.0.0.1:1" }
`;
    let error: unknown;
    try {
      const loaded = parseConfig(text, '<inline>', { API_AUDIENCE: 'https://api.test' });
      error = `accepted, audience ${JSON.stringify(loaded.config.routes[0]!.auth.audience)}`;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(/routes\[0\]\.auth\.audience|line 7|!env/);
  });
});
