// Found in the newcomer walk-through (fixed; the test failed before): MTLS-4, TLS-11. A `*.ca_file` that
// holds no certificate (a JSON file, a key, an empty file) passed `check` and the start: Node's TLS
// takes anything as `ca` and then trusts nothing, so every CA-issued mTLS client got 401 "not trusted"
// and every JWKS fetch failed "unable to verify the first certificate", far from the cause. Now both
// refuse the file by its setting.
import { spawnSync } from 'node:child_process';
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
  cliJs = buildCli('dist-procs-ca-file-not-pem');
  files = await writePki(undefined, await testPki());
  dir = mkdtempSync(join(tmpdir(), 'ca-not-pem-'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** A config with `bad` as the CA file of one setting; the others are good. */
function configWith(setting: 'client' | 'issuer' | 'client_jwks', bad: string): string {
  const f = join(dir, `cfg-${setting}.yaml`);
  const ca = (s: typeof setting): string => (s === setting ? bad : files.caFile);
  writeFileSync(
    f,
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile, client_ca_file: ca('client') } },
      issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: ca('issuer') } },
      http_signatures: { clients: { tpp: { jwks_uri: 'https://127.0.0.1:1/tpp.jwks' } }, client_jwks: { ca_file: ca('client_jwks') } },
      routes: [{ id: 'a', match: { methods: ['POST'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls', signed_requests: true }, upstream: { url: 'http://127.0.0.1:1' } }],
    }),
  );
  return f;
}

describe('MTLS-4 / TLS-11: a CA file without certificates is refused by check and by the start', () => {
  const json = (): string => {
    const p = join(dir, 'ca.json');
    writeFileSync(p, '{"not":"a certificate"}\n');
    return p;
  };
  const broken = (): string => {
    const p = join(dir, 'ca-broken.pem');
    writeFileSync(p, `${readFileSync(files.caFile, 'utf8')}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    return p;
  };
  for (const [setting, key] of [
    ['client', 'server.tls.client_ca_file'],
    ['issuer', 'issuers.main.ca_file'],
    ['client_jwks', 'http_signatures.client_jwks.ca_file'],
  ] as const) {
    it(`${key}: a JSON file, or a bundle with one block that is not a certificate`, async () => {
      for (const [bad, why] of [
        [json(), 'not a PEM certificate bundle'],
        [broken(), 'certificate 2 does not parse'],
      ] as const) {
        const f = configWith(setting, bad);
        const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
        expect({ status: r.status, valid: r.stdout.includes('is valid') }).toEqual({ status: 1, valid: false });
        expect(r.stderr).toContain(`${key} ${bad}: ${why}`);
        expect(await startVerdict(f)).toContain(`${key} ${bad}: ${why}`);
      }
    });
  }

  it('control: the same config with the real CA bundle is valid and starts', async () => {
    const f = configWith('client', files.caFile);
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(await startVerdict(f)).toBeUndefined();
  });
});
