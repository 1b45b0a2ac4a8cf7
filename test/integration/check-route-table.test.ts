// `fapi-gateway check` prints the compiled route table: which routes verify signed requests and which
// sign responses (SIG-2, SIG-8), and where a route's resource must be granted (TOK-8), are columns of
// it, as the binding and the scopes are; a route sharing a bound route's paths unbound is a note.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildCli } from '../support/cli.js';
import { testPki, writePki, type PkiFiles } from '../support/pki.js';

let cliJs: string;
let files: PkiFiles;
let dir: string;
beforeAll(async () => {
  cliJs = buildCli('dist-procs-check-route-table');
  files = await writePki(undefined, await testPki());
  dir = mkdtempSync(join(tmpdir(), 'check-table-'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('check: the route table', () => {
  it('has a SIGNED column: requests, responses, both or -', () => {
    const key = join(dir, 'gw.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const jwk = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'c1', alg: 'EdDSA' };
    const auth = (signed: boolean) => ({ issuers: ['main'], audience: 'https://api.test', binding: 'mtls', signed_requests: signed });
    const route = (id: string, signed: boolean, sign: boolean) => ({ id, match: { methods: ['POST'], path: `/${id}` }, auth: auth(signed), sign_responses: sign, upstream: { url: 'http://127.0.0.1:1' } });
    const f = join(dir, 'gateway.yaml');
    writeFileSync(
      f,
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
        issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
        http_signatures: { clients: { 'tpp-1': { jwks: { keys: [jwk] } } }, response_signing: { keys: [{ key_file: key, kid: 'gw-1', alg: 'EdDSA' }] } },
        resource_metadata: {},
        routes: [route('plain', false, false), route('req', true, false), route('res', false, true), route('both', true, true)],
      }),
    );
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ROUTE\s+METHODS\s+HOST\s+PATH\s+BINDING\s+ISSUERS\s+AUDIENCE\s+SCOPES\s+RESOURCE\s+SIGNED\s+UPSTREAM$/m);
    const signed = (id: string): string | undefined => r.stdout.split('\n').find((l) => l.startsWith(`${id} `))?.trim().split(/\s+/).at(-2);
    expect([signed('plain'), signed('req'), signed('res'), signed('both')]).toEqual(['-', 'requests', 'responses', 'requests+responses']);
  });

  it('TOK-8: a RESOURCE column, and a note for a route that shares a bound route\'s paths without binding', () => {
    const auth = (extra: Record<string, unknown>) => ({ issuers: ['main'], audience: 'https://api.test', binding: 'mtls', ...extra });
    const f = join(dir, 'bound.yaml');
    writeFileSync(
      f,
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
        issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
        routes: [
          { id: 'consents', match: { methods: ['GET', 'DELETE'], path_prefix: '/consents' }, auth: auth({ resource_binding: { scope_prefix: 'consent:' } }), upstream: { url: 'http://127.0.0.1:1' } },
          { id: 'consents-create', match: { methods: ['POST'], path_prefix: '/consents' }, auth: auth({}), upstream: { url: 'http://127.0.0.1:1' } },
          {
            id: 'accounts',
            match: { methods: ['GET'], path_prefix: '/accounts' },
            auth: auth({ resource_binding: { authorization_details: [{ type: 'account_information', field: 'accounts' }], query_param: 'accountId' } }),
            upstream: { url: 'http://127.0.0.1:1' },
          },
          { id: 'other', match: { methods: ['POST'], path: '/other' }, auth: auth({}), upstream: { url: 'http://127.0.0.1:1' } },
        ],
      }),
    );
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const resource = (id: string): string | undefined => r.stdout.split('\n').find((l) => l.startsWith(`${id} `))?.trim().split(/\s+/).at(-3);
    expect([resource('consents'), resource('consents-create'), resource('accounts'), resource('other')]).toEqual(['path:scope:consent:', '-', 'path+?accountId:rar:account_information.accounts', '-']);
    const notes = r.stdout.split('\n').filter((l) => l.startsWith('note: route '));
    expect(notes).toEqual([expect.stringMatching(/^note: route consents-create \(POST\) shares paths with route consents, which binds resources, and binds none: .*_method/)]);
  });
});

describe('check: PRM-6 under a required client certificate', () => {
  it('says when handshakes without a certificate complete for the metadata, and not otherwise', () => {
    const run = (tls: Record<string, unknown>, metadata: Record<string, unknown> | undefined): string => {
      const f = join(dir, 'prm6.yaml');
      writeFileSync(
        f,
        stringify({
          server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile, client_ca_file: files.caFile, ...tls } },
          issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
          ...(metadata === undefined ? {} : { resource_metadata: metadata }),
          routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: 'http://127.0.0.1:1' } }],
        }),
      );
      const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const note = 'note: tls.client_certificate: required, with resource_metadata served to clients without a certificate (PRM-6)';
    expect(run({ client_certificate: 'required' }, {})).toContain(note);
    expect(run({ client_certificate: 'required' }, { without_client_certificate: false })).not.toContain(note);
    expect(run({ client_certificate: 'required' }, undefined)).not.toContain(note);
    expect(run({ client_certificate: 'optional' }, {})).not.toContain(note);
  });
});

describe('check: PRM-2 identifiers that would share one metadata URL', () => {
  it('names them in a note (neither is published)', () => {
    const f = join(dir, 'prm2.yaml');
    const route = (id: string, audience: string) => ({ id, match: { methods: ['GET'], path_prefix: `/${id}` }, auth: { issuers: ['main'], audience, binding: 'mtls' }, upstream: { url: 'http://127.0.0.1:1' } });
    writeFileSync(
      f,
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
        issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://127.0.0.1:1/jwks', ca_file: files.caFile } },
        resource_metadata: {},
        routes: [route('a', 'https://api.test'), route('b', 'https://api.test/'), route('c', 'https://api.test/c')],
      }),
    );
    const r = spawnSync(process.execPath, [cliJs, 'check', '--config', f], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('note: audiences "https://api.test" and "https://api.test/" share one metadata URL');
    expect(r.stdout).not.toContain('"https://api.test/c"');
  });
});
