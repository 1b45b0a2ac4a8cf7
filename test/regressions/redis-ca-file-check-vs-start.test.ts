// Found in review (fixed; the test failed before): review of ebe638a (replay.redis.ca_file): `check` answers as the start does (test/regressions/check-vs-start.test.ts).
// The start reads redis.ca_file only with `store: redis` (src/main.ts build: the redis section is unused
// with the memory store, and "preparing a switch to Redis forgets nothing"); `check` reads it whatever
// the store (src/cli.ts checkFiles), so a config the start runs is refused by `check`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildCli, startVerdict } from '../support/cli.js';
import { testPki, writePki, type PkiFiles } from '../support/pki.js';

let cliJs: string;
let files: PkiFiles;
let dir: string;

beforeAll(async () => {
  cliJs = buildCli('dist-review-diff2');
  files = await writePki(undefined, await testPki());
  dir = join(files.dir, 'review-diff2');
  mkdirSync(dir, { recursive: true });
});

describe('review diff2: replay.redis.ca_file, check and start', () => {
  it('memory store with a prepared redis section whose ca_file is not PEM: the start runs it, so check must not refuse it', async () => {
    writeFileSync(join(dir, 'not-a-ca.pem'), 'not a certificate\n');
    const cfg = {
      server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: 'http://127.0.0.1:1' } }],
      replay: { store: 'memory', redis: { url_env: 'REVIEW_DIFF2_REDIS_URL', tls: true, ca_file: join(dir, 'not-a-ca.pem') } },
    };
    const f = join(dir, 'memory-with-redis-ca.yaml');
    writeFileSync(f, stringify(cfg));
    const env = { REVIEW_DIFF2_REDIS_URL: 'rediss://redis.internal:6380' };
    expect(await startVerdict(f, env)).toBeUndefined(); // the start runs it
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect({ status: r.status, stderr: r.stderr.slice(0, 300) }).toEqual({ status: 0, stderr: '' }); // was: 1, replay.redis.ca_file ... not PEM
  });
});
