// TLS-7 / FAPI2-SP §5.4.1 (found in review): OpenSSL at Node's default security level accepts a client
// certificate with an RSA-1024 key, and the binding hashes the certificate without looking at its key,
// so a token bound to such a certificate was accepted. Such a certificate now binds nothing (401).
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weakKeyOf } from '../../src/listen/cert-key.js';
import { request } from '../support/client.js';
import { expectErrorContract } from '../support/contract.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import type { Pem } from '../support/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'fapi-weak-cert-'));

/** A self-signed client certificate made by the openssl CLI with `-newkey <spec>`. */
function selfSigned(name: string, ...newkey: string[]): Pem {
  const [cert, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  const r = spawnSync('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'extendedKeyUsage=clientAuth'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const certPem = readFileSync(cert, 'utf8');
  const der = Buffer.from(new X509Certificate(certPem).raw);
  return { certPem, keyPem: readFileSync(key, 'utf8'), der, x5tS256: createHash('sha256').update(der).digest('base64url') };
}

let h: Harness;
let rsa1024: Pem;
let rsa2048: Pem;
beforeAll(async () => {
  rsa1024 = selfSigned('rsa1024', '-newkey', 'rsa:1024');
  rsa2048 = selfSigned('rsa2048', '-newkey', 'rsa:2048');
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS-7: the key of the certificate a token is bound to', () => {
  it('weakKeyOf: RSA below 2048 bits and EC curves below 224 bits are weak; RSA-2048, P-256 and Ed25519 are not', () => {
    const of = (p: Pem): string | undefined => weakKeyOf(new X509Certificate(p.certPem));
    expect(of(rsa1024)).toBe('RSA key of 1024 bits (at least 2048)');
    expect(of(rsa2048)).toBeUndefined();
    expect(of(selfSigned('p192', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime192v1'))).toBe('EC key on prime192v1 (not an accepted curve)');
    expect(of(selfSigned('p256', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'))).toBeUndefined();
    expect(of(selfSigned('ed25519', '-newkey', 'ed25519'))).toBeUndefined();
    expect(of(h.pki.client1)).toBeUndefined();
  });

  it('MTLS-2: a token bound to an RSA-1024 certificate, presented over TLS with it -> 401 invalid_token, never forwarded', async () => {
    const before = h.upstream.received.length;
    const iid = randomUUID();
    const token = await h.issuer.mint({ cnf: cnfX5t(rsa1024.x5tS256) });
    // Node's own client refuses to present so small a key at its default security level: lower it.
    const r = await request(h.url('/mtls/weak'), {
      ca: h.pki.ca.certPem,
      servername: 'localhost',
      cert: rsa1024.certPem,
      key: rsa1024.keyPem,
      ciphers: 'DEFAULT:@SECLEVEL=0',
      headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]],
    });
    expectErrorContract(r, 401, 'invalid_token');
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_CERT_KEY_WEAK', detail: 'TLS-7 client certificate key too weak: RSA key of 1024 bits (at least 2048)' });
    expect(h.upstream.received.length).toBe(before);
  });

  it('control: the same with an RSA-2048 certificate -> 200', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(rsa2048.x5tS256) });
    expect((await h.call('/mtls/strong', { cert: rsa2048, headers: [['Authorization', `Bearer ${token}`]] })).status).toBe(200);
  });
});

describe('TLS-7 / MTLS-5: a forwarded certificate with a weak key binds nothing either', () => {
  it('RFC 9440 Client-Cert with an RSA-1024 certificate from a trusted hop -> 401; RSA-2048 -> 200', async () => {
    const routes = [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' } }];
    const fh = await startHarness({ routes, patch: (c) => (c.server.forwarded_client_cert = { header: 'client-cert', trusted_peers: ['127.0.0.0/8'] }) });
    try {
      const asRfc9440 = (p: Pem): string => `:${p.der.toString('base64')}:`;
      const iid = randomUUID();
      const weak = await fh.issuer.mint({ cnf: cnfX5t(rsa1024.x5tS256) });
      const r = await fh.call('/x', { headers: [['Authorization', `Bearer ${weak}`], ['Client-Cert', asRfc9440(rsa1024)], ['x-fapi-interaction-id', iid]] });
      expectErrorContract(r, 401, 'invalid_token');
      expect((await logFor(fh, iid))?.reason).toBe('GW_CERT_KEY_WEAK');
      const strong = await fh.issuer.mint({ cnf: cnfX5t(rsa2048.x5tS256) });
      expect((await fh.call('/x', { headers: [['Authorization', `Bearer ${strong}`], ['Client-Cert', asRfc9440(rsa2048)]] })).status).toBe(200);
    } finally {
      await fh.close();
    }
  });
});
