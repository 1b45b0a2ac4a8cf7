// SIG-2: the client keys requests are signed with, compiled once per config. Refusals name the key.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig, referencedFiles } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';
import { compileClientKeys } from '../../../src/signature/client-keys.js';

const ec = () => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'ec', alg: 'ES256' });
const ed = () => ({ ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'ed', alg: 'EdDSA' });
const rsa = (bits: number) => ({ ...generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' }), kid: `rsa${bits}`, alg: 'PS256' });

const config = (httpSignatures: unknown, signed = true) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  ...(httpSignatures === undefined ? {} : { http_signatures: httpSignatures }),
  routes: [
    { id: 'pay', match: { methods: ['POST'], path: '/pay' }, auth: { issuers: ['as'], audience: 'https://api.test', signed_requests: signed }, upstream: { url: 'http://127.0.0.1:1' } },
  ],
});

const load = (c: unknown, dir = tmpdir()) => {
  const loaded = parseConfig(stringify(c), join(dir, 'gateway.yaml'), {});
  return { loaded, keys: compileClientKeys(loaded) };
};
const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('accepted');
};

describe('SIG-2 http_signatures.clients', () => {
  it('compiles PS256, ES256 and EdDSA keys by client_id and kid, with the JWK alg', () => {
    const { keys } = load(config({ clients: { 'tpp-1': { jwks: { keys: [ec(), ed(), rsa(2048)] } } } }));
    const tpp = keys?.get('tpp-1');
    expect([...(tpp?.keys() ?? [])]).toEqual(['ec', 'ed', 'rsa2048']);
    expect(tpp?.get('rsa2048')?.alg).toBe('PS256');
    expect(tpp?.get('ed')?.key.asymmetricKeyType).toBe('ed25519');
  });

  it('reads jwks_file relative to the config, and watches it like every *_file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sig-keys-'));
    writeFileSync(join(dir, 'tpp.json'), JSON.stringify({ keys: [ec()] }));
    const { loaded, keys } = load(config({ clients: { tpp: { jwks_file: 'tpp.json' } } }), dir);
    expect(keys?.get('tpp')?.get('ec')?.alg).toBe('ES256');
    expect(referencedFiles(loaded)).toContain(join(dir, 'tpp.json'));
  });

  it('refuses a route with signed_requests when http_signatures is not set', () => {
    expect(problems(() => load(config(undefined))).join('\n')).toMatch(/routes\[0\]\.auth\.signed_requests: signed_requests needs http_signatures/);
    // Without signed routes, no section is needed and no keys are compiled.
    expect(load(config(undefined, false)).keys).toBeUndefined();
  });

  it('refuses private keys, a key type that is not its alg, weak RSA, duplicate kids, a use other than sig and key_ops without verify', () => {
    const priv = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'p', alg: 'ES256' };
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [priv] } } } }))).join('\n')).toMatch(/keys\[0\]\.d: a private key/);
    const mismatched = [
      { ...ec(), alg: 'PS256' },
      { ...ed(), kid: 'x', alg: 'ES256' },
      { ...generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }), kid: 'p384', alg: 'ES256' },
    ];
    const p = problems(() => load(config({ clients: { a: { jwks: { keys: mismatched } } } })));
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/clients\.a\.jwks\.keys\[0\]: alg PS256 needs kty RSA/);
    expect(p[2]).toMatch(/keys\[2\]: alg ES256 needs kty EC and crv P-256/);
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [rsa(1024)] } } } }))).join()).toMatch(/at least 2048 bits/);
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [ec(), ec()] } } } }))).join()).toMatch(/duplicate kid ec/);
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [{ ...ec(), use: 'enc' }] } } } }))).join()).toMatch(/use must be sig/);
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [{ ...ec(), key_ops: ['encrypt'] }] } } } }))).join()).toMatch(/key_ops must include verify/);
    expect(load(config({ clients: { a: { jwks: { keys: [{ ...ec(), key_ops: ['verify'] }] } } } })).keys?.get('a')?.get('ec')).toBeDefined();
  });

  it('refuses an unknown alg, both or neither of jwks and jwks_file, no clients, and a bad file', () => {
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [{ ...ec(), alg: 'RS256' }] } } } }))).join()).toMatch(/keys\[0\]\.alg/);
    const { alg: _alg, ...noAlg } = ec();
    expect(problems(() => load(config({ clients: { a: { jwks: { keys: [noAlg] } } } }))).join()).toMatch(/keys\[0\]\.alg/);
    expect(problems(() => load(config({ clients: { a: {} } }))).join()).toMatch(/exactly one of jwks, jwks_file or jwks_uri/);
    // No clients: a signing-only section (response_signing) is fine, a route verifying requests is not.
    expect(problems(() => load(config({ clients: {} }))).join()).toMatch(/signed_requests needs http_signatures\.clients/);
    const dir = mkdtempSync(join(tmpdir(), 'sig-keys-'));
    writeFileSync(join(dir, 'bad.json'), '{ not json');
    writeFileSync(join(dir, 'nokid.json'), JSON.stringify({ keys: [{ ...ec(), kid: undefined }] }));
    expect(problems(() => load(config({ clients: { a: { jwks_file: 'bad.json' } } }), dir)).join()).toMatch(/jwks_file: bad\.json: not JSON/);
    expect(problems(() => load(config({ clients: { a: { jwks_file: 'nokid.json' } } }), dir)).join()).toMatch(/jwks_file keys\[0\]\.kid/);
    expect(problems(() => load(config({ clients: { a: { jwks_file: 'missing.json' } } }), dir)).join()).toMatch(/missing\.json: cannot read \(ENOENT\)/);
  });

  it('jwks_uri: https only, alone, not compiled here (fetched at run time); client_jwks defaults, bounds and a watched ca_file', () => {
    const { loaded, keys } = load(config({ clients: { tpp: { jwks_uri: 'https://directory.test/tpp/signing.jwks' }, own: { jwks: { keys: [ec()] } } } }));
    expect(keys?.has('tpp')).toBe(false);
    expect(keys?.get('own')?.get('ec')).toBeDefined();
    expect(loaded.config.http_signatures?.client_jwks).toEqual({ http_timeout_ms: 2000, refresh_s: 300, refetch_cooldown_s: 30, max_bytes: 1_048_576 });
    expect(problems(() => load(config({ clients: { tpp: { jwks_uri: 'http://directory.test/tpp.jwks' } } }))).join()).toMatch(/clients\.tpp\.jwks_uri: expected an https:\/\/ URL/);
    expect(problems(() => load(config({ clients: { tpp: { jwks_uri: 'https://d.test/j', jwks: { keys: [ec()] } } } }))).join()).toMatch(/exactly one of jwks, jwks_file or jwks_uri/);
    const bounds = problems(() => load(config({ clients: { tpp: { jwks_uri: 'https://d.test/j' } }, client_jwks: { refresh_s: 5, refetch_cooldown_s: 0, max_bytes: 100, http_timeout_ms: 50 } })));
    expect(bounds.map((b) => b.split(':')[0]).sort()).toEqual(
      ['client_jwks.http_timeout_ms', 'client_jwks.max_bytes', 'client_jwks.refetch_cooldown_s', 'client_jwks.refresh_s'].map((k) => `http_signatures.${k}`),
    );
    const dir = mkdtempSync(join(tmpdir(), 'sig-keys-'));
    const watched = load(config({ clients: { tpp: { jwks_uri: 'https://d.test/j' } }, client_jwks: { ca_file: 'directory-ca.pem' } }), dir);
    expect(referencedFiles(watched.loaded)).toContain(join(dir, 'directory-ca.pem'));
  });

  it('SIG-6 a signed route holds its body in memory: its limit is the lower of max_body_bytes and http_signatures.max_body_bytes', () => {
    const c = config({ clients: { a: { jwks: { keys: [ec()] } } }, max_body_bytes: 4096 });
    (c.routes as Record<string, unknown>[]).push(
      { id: 'big', match: { methods: ['POST'], path: '/big' }, auth: { issuers: ['as'], audience: 'https://api.test', signed_requests: true }, upstream: { url: 'http://127.0.0.1:1', max_body_bytes: 100 } },
      { id: 'plain', match: { methods: ['POST'], path: '/plain' }, auth: { issuers: ['as'], audience: 'https://api.test', signed_requests: false }, upstream: { url: 'http://127.0.0.1:1' } },
    );
    const limits = Object.fromEntries(compileRouteTable(load(c).loaded).routes.map((r) => [r.id, r.upstream.maxBodyBytes]));
    // server.limits.max_body_bytes (10 MiB) capped to 4096 when signed; a lower route limit stays; unsigned routes untouched.
    expect(limits).toEqual({ pay: 4096, big: 100, plain: 10_485_760 });
  });

  it('SIG-4 max_age_s is 1..300', () => {
    const keys = { clients: { a: { jwks: { keys: [ec()] } } } };
    expect(load(config({ ...keys })).loaded.config.http_signatures?.max_age_s).toBe(60);
    for (const bad of [0, 301, 1.5, '60']) expect(problems(() => load(config({ ...keys, max_age_s: bad }))).join(), String(bad)).toMatch(/max_age_s/);
  });
});
