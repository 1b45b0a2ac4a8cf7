// TLS-1: the server certificate and key are checked against each other at start and on reload.
// OpenSSL alone accepts a key of another type than the certificate's (and every handshake then fails).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { tlsOptions } from '../../../src/listen/tls-options.js';
import { issueServerCert, testPki, writePki } from '../../support/pki.js';

const loaded = (cert: string, key: string, profile?: 'fapi1' | 'fapi2') =>
  parseConfig(
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: cert, key_file: key, ...(profile && { profile }) } },
      issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
      routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/' }, auth: { issuers: ['as'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:1' } }],
    }),
    '<inline>',
    {},
  );

describe('server certificate and key (TLS-1)', () => {
  it('accepts the key of the certificate', async () => {
    const f = await writePki(undefined, await testPki());
    expect(tlsOptions(loaded(f.serverCertFile, f.serverKeyFile)).minVersion).toBe('TLSv1.2');
  });

  it('refuses a key of another type (an EC key for an RSA certificate) and another key of the same type', async () => {
    const pki = await testPki();
    const f = await writePki(undefined, pki);
    expect(() => tlsOptions(loaded(f.serverCertFile, f.client1KeyFile))).toThrow(/key_file .* does not belong to the certificate/);
    const other = await issueServerCert(pki.ca, { cn: 'other', rsa: true });
    const otherKey = join(f.dir, 'other.key');
    await writeFile(otherKey, other.keyPem);
    expect(() => tlsOptions(loaded(f.serverCertFile, otherKey))).toThrow(/does not belong to the certificate/);
  });

  it('TLS-6: refuses a certificate with an RSA-1024 key (found in review: the README promised it, nothing checked)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fapi-tls6-'));
    try {
      const [crt, key] = [join(dir, 'weak.crt'), join(dir, 'weak.key')];
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=localhost'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(() => tlsOptions(loaded(crt, key))).toThrow(/weak key \(TLS-6\): RSA key of 1024 bits/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Q-7: tls.profile fapi1 needs an RSA server certificate (found in the newcomer walk-through)', () => {
  it('refuses an EC certificate (no FAPI 1.0 TLS 1.2 suite could be negotiated), accepts an RSA one', async () => {
    const pki = await testPki();
    const f = await writePki(undefined, pki);
    const ec = await issueServerCert(pki.ca, { cn: 'localhost' });
    const [crt, key] = [join(f.dir, 'ec.crt'), join(f.dir, 'ec.key')];
    await writeFile(crt, ec.certPem);
    await writeFile(key, ec.keyPem);
    expect(tlsOptions(loaded(crt, key, 'fapi2')).minVersion).toBe('TLSv1.2');
    expect(() => tlsOptions(loaded(crt, key, 'fapi1'))).toThrow(/profile fapi1 .* need an RSA certificate, and cert_file .* holds an EC key/);
    expect(tlsOptions(loaded(f.serverCertFile, f.serverKeyFile, 'fapi1')).ciphers).toContain('ECDHE-RSA-AES128-GCM-SHA256');
  });
});
