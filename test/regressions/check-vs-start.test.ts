// Regression (failed before the fix), review of 39d7c91: `check` should say 'valid' only for a config the start accepts, and refuse only
// what the start refuses (files that are not here being a note). Each case runs the built CLI's
// `check` and, where relevant, the in-process start on the same file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildCli, startVerdict } from '../support/cli.js';
import { testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';

let cliJs: string;
let pki: TestPki;
let files: PkiFiles;
let dir: string;

beforeAll(async () => {
  // Not dist/: another test file may rebuild it while this one runs.
  cliJs = buildCli('dist-check-vs-start');
  pki = await testPki();
  files = await writePki(undefined, pki);
  dir = join(files.dir, 'review-final');
  mkdirSync(join(dir, 'a-directory'), { recursive: true });
});

type Raw = Record<string, any>;
const base = (): Raw => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
  issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
  routes: [
    {
      id: 'a',
      match: { methods: ['GET'], path_prefix: '/a' },
      auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' },
      upstream: { url: 'http://127.0.0.1:1' },
    },
  ],
});

const write = (name: string, cfg: Raw): string => {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, stringify(cfg));
  return f;
};
const check = (f: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8', env: { ...process.env, ...env } });

describe('review 39d7c91: check answers as the start does', () => {
  it('an issuer ca_file that is a directory: the start refuses (EISDIR), so check must not say valid', async () => {
    const c = base();
    c.issuers.main.ca_file = join(dir, 'a-directory');
    const f = write('issuer-ca-dir', c);
    expect(await startVerdict(f)).toContain('EISDIR');
    const r = check(f);
    expect(r.stdout).not.toContain('is valid');
    expect(r.status).toBe(1);
  });

  it('a redis URL the start cannot parse: the start refuses (Invalid URL), so check must not say valid', async () => {
    const c = base();
    c.replay = { store: 'redis', redis: { url_env: 'REVIEW_REDIS_URL' } };
    const f = write('redis-bad-url', c);
    const env = { REVIEW_REDIS_URL: 'redis://redis.internal:abc' };
    // The start refuses it at load now, naming the setting (it was ioredis's own "Invalid URL").
    expect(await startVerdict(f, env)).toContain('REVIEW_REDIS_URL is not a redis:// or rediss:// URL');
    const r = check(f, env);
    expect(r.stdout).not.toContain('is valid');
    expect(r.status).toBe(1);
  });

  it('a client_ca_file whose PEM block is not a certificate: the start refuses (clientTrust), so check must not say valid', async () => {
    const corrupt = pki.ca.certPem.replace(/(-----BEGIN CERTIFICATE-----\r?\n)(.{10})/, '$1AAAAAAAAAA');
    writeFileSync(join(dir, 'corrupt-ca.pem'), corrupt);
    const c = base();
    c.server.tls.client_ca_file = join(dir, 'corrupt-ca.pem');
    const f = write('client-ca-corrupt', c);
    expect(await startVerdict(f)).toBeDefined();
    const r = check(f);
    expect(r.stdout).not.toContain('is valid');
    expect(r.status).toBe(1);
  });

  it('a cert_file whose chain has a broken second certificate: the start refuses (secure context), so check must not say valid', async () => {
    const corrupt = pki.ca.certPem.replace(/(-----BEGIN CERTIFICATE-----\r?\n)(.{10})/, '$1AAAAAAAAAA');
    writeFileSync(join(dir, 'chain-corrupt.pem'), `${pki.server.certPem}\n${corrupt}`);
    const c = base();
    c.server.tls.cert_file = join(dir, 'chain-corrupt.pem');
    const f = write('server-chain-corrupt', c);
    expect(await startVerdict(f)).toBeDefined();
    const r = check(f);
    expect(r.stdout).not.toContain('is valid');
    expect(r.status).toBe(1);
  });

  it('an upstream.ca_file that is not on this machine is a note, like every other file (not a refusal)', () => {
    const c = base();
    c.routes[0].upstream = { url: 'https://upstream.internal', ca_file: 'secrets/upstream-ca.pem' };
    const r = check(write('upstream-ca-absent', c));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/note: not found here, so not checked .*secrets\/upstream-ca\.pem/);
  });

  it('tls_client_auth with a key of another type than its certificate (EC cert, RSA key): check refuses it', () => {
    const c = base();
    c.issuers.main.introspection = {
      endpoint: 'https://as.test/introspect',
      client_id: 'gw',
      auth: 'tls_client_auth',
      cert_file: files.client1CertFile, // EC P-256
      key_file: files.serverKeyFile, // RSA
    };
    const r = check(write('introspection-tls-key-type', c));
    expect(r.stdout).not.toContain('is valid');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('key_file');
  });

  it('a key_file that is not a private key: the message names the setting, not only an OpenSSL code', () => {
    const c = base();
    c.server.tls.key_file = files.serverCertFile;
    const r = check(write('key-is-cert', c));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('key_file');
  });

  it('a cert_file that is not a certificate: the message names the setting, not only an OpenSSL code', () => {
    const c = base();
    c.server.tls.cert_file = files.serverKeyFile;
    const r = check(write('cert-is-key', c));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cert_file');
  });
});
