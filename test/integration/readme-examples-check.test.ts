// Review (newcomer): the README's YAML examples and the `check` output it shows, run through the real
// CLI as a newcomer would (`npx fapi-gateway check --config ...`). Each example is a fragment of a
// config: it is merged over a minimal server and `bank-as` issuer, and a route shown as `# ...` gets a
// match and an upstream. The files the examples name relatively are created next to the config. These
// pass today; nothing else kept the README's examples valid as the schema changes.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildCli } from '../support/cli.js';
import { testPki, writePki, type PkiFiles } from '../support/pki.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1] as string);

let cliJs: string;
let files: PkiFiles;
let dir: string;
beforeAll(async () => {
  cliJs = buildCli('dist-procs-review-newcomer-examples');
  files = await writePki(undefined, await testPki());
  dir = mkdtempSync(join(tmpdir(), 'review-newcomer-examples-'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = (file: string, env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [cliJs, 'check', '--config', file], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });

/** Creates the relative files an example names: clients' JWKS files and CA bundles. */
function provide(base: string, config: Record<string, any>): void {
  const put = (rel: string | undefined, text: string): void => {
    if (rel === undefined || isAbsolute(rel)) return;
    mkdirSync(dirname(join(base, rel)), { recursive: true });
    writeFileSync(join(base, rel), text);
  };
  const sig = config.http_signatures;
  for (const c of Object.values<any>(sig?.clients ?? {})) {
    const jwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
    put(c.jwks_file, JSON.stringify({ keys: [jwk] }));
  }
  put(sig?.client_jwks?.ca_file, readFileSync(files.caFile, 'utf8'));
}

describe('README YAML examples pass `fapi-gateway check` (review: newcomer)', () => {
  it('the README has its YAML examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  blocks.forEach((text, i) => {
    const first = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
    it(`example ${i + 1} (${first.trim()} ...)`, () => {
      const example = parse(text) as Record<string, any>;
      const config: Record<string, any> = {
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.bank.example', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
        issuers: { 'bank-as': { issuer: 'https://as.bank.example', jwks_uri: 'https://as.bank.example/jwks', ca_file: files.caFile } },
        ...example,
      };
      // `# ...`: the example leaves out what is not its point.
      config.routes = (example.routes ?? [{ id: 'r', auth: { issuers: ['bank-as'], audience: 'https://api.bank.example' } }]).map((r: any, n: number) => ({
        match: { methods: ['POST'], path: `/p${n}` },
        upstream: { url: 'http://127.0.0.1:8080' },
        auth: { issuers: ['bank-as'], audience: 'https://api.bank.example' },
        ...r,
      }));
      const base = join(dir, `example-${i + 1}`);
      mkdirSync(base, { recursive: true });
      provide(base, config);
      const file = join(base, 'config.yaml');
      writeFileSync(file, stringify(config));
      const r = check(file);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('is valid');
      expect(r.status).toBe(0);
    });
  });

  it('the invalid-config output the README shows is what check prints (and exit 1)', () => {
    const shown = /```\ninvalid config my-gateway\.yaml:\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(shown).toContain('interaction_idd');
    const file = join(dir, 'my-gateway.yaml');
    writeFileSync(
      file,
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.bank.example', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile }, interaction_idd: 'strict' },
        issuers: { 'bank-as': { issuer: 'https://as.bank.example', jwks_uri: 'https://as.bank.example/jwks' } },
        routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['bank-as'], audience: 'https://api.bank.example', binding: 'mTLS' }, upstream: { url: 'http://127.0.0.1:8080' } }],
      }),
    );
    const r = check(file);
    expect(r.status).toBe(1);
    const strip = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '').map((l) => l.replace(/\(line \d+\)/, '(line N)').trim());
    expect(strip(r.stderr + r.stdout)).toEqual(expect.arrayContaining(strip(shown)));
  });
});
