// Found in review (fixed; the test failed before): `fapi-gateway check` says "is valid" (exit 0) for a
// config whose http_signatures.response_signing key cannot be used (a public key, or a key of another
// type than its alg), while the start refuses the same file (buildResponseSigner). The project's rule
// (README "check ... then the files the start reads, as it reads them";
// test/regressions/check-vs-start.test.ts: "`check` should say 'valid' only for a config the start
// accepts") is broken for the new keys: a CI job running `check` passes a config the rollout then cannot
// start.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildCli, startVerdict } from '../support/cli.js';
import { testPki, writePki, type PkiFiles } from '../support/pki.js';

let cliJs: string;
let files: PkiFiles;
let dir: string;
beforeAll(async () => {
  cliJs = buildCli('dist-procs-check-signing-keys');
  files = await writePki(undefined, await testPki());
  dir = mkdtempSync(join(tmpdir(), 'rs-check-'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configWith(keyFile: string, alg: string, clients?: Record<string, unknown>): string {
  const f = join(dir, `cfg-${alg}-${clients === undefined ? 'r' : 'c'}.yaml`);
  writeFileSync(
    f,
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
      http_signatures: { response_signing: { keys: [{ key_file: keyFile, kid: 'gw-1', alg }] }, ...(clients !== undefined && { clients }) },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, sign_responses: true, upstream: { url: 'http://127.0.0.1:1' } }],
    }),
  );
  return f;
}

describe('check answers as the start does for response_signing keys', () => {
  it('an Ed25519 key declared ES256: the start refuses, check must not say valid', async () => {
    const key = join(dir, 'ed.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const f = configWith(key, 'ES256');
    expect(await startVerdict(f)).toMatch(/response_signing\.keys\[0\]\.key_file: alg ES256 needs kty EC/);
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    // Fails: exit 0, "config ... is valid".
    expect({ status: r.status, valid: r.stdout.includes('is valid') }).toEqual({ status: 1, valid: false });
  });
  it('a public key as key_file: the start refuses, check must not say valid', async () => {
    const key = join(dir, 'pub.pem');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const f = configWith(key, 'ES256');
    expect(await startVerdict(f)).toMatch(/not a PEM private key/);
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect({ status: r.status, valid: r.stdout.includes('is valid') }).toEqual({ status: 1, valid: false });
  });
  it('(same gap, request side, older code) an inline client JWK whose kty is not its alg\'s: the start refuses, check must not say valid', async () => {
    const key = join(dir, 'ok.pem');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const jwk = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'c1', alg: 'ES256' };
    const f = configWith(key, 'ES256', { 'tpp-1': { jwks: { keys: [jwk] } } });
    expect(await startVerdict(f)).toMatch(/alg ES256 needs kty EC/);
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect({ status: r.status, valid: r.stdout.includes('is valid') }).toEqual({ status: 1, valid: false });
  });
});

describe('SIG-9 check notes where clients cannot discover the response-signing keys', () => {
  it('sign_responses without resource_metadata: valid, with a note naming the JWKS URL; with resource_metadata, no note', () => {
    const key = join(dir, 'good.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const f = configWith(key, 'EdDSA');
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('note: routes a sign responses, and without resource_metadata no jwks_uri is published: tell clients the keys are at https://api.test/.well-known/fapi-gateway/jwks.json');
    const withMetadata = join(dir, 'with-metadata.yaml');
    writeFileSync(withMetadata, `${readFileSync(f, 'utf8')}resource_metadata: {}\n`);
    const m = spawnSync(process.execPath, [cliJs, 'check', '--config', withMetadata], { encoding: 'utf8' });
    expect(m.status).toBe(0);
    expect(m.stdout).not.toContain('jwks_uri is published');
  });
});
