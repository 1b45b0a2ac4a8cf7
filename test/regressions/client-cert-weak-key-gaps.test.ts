// Found in review (fixed; the test failed before): TLS-7 / FAPI2-SP §5.4.1 (2,3) weak client-certificate keys (src/listen/cert-key.ts).
// weakKeyOf reads an EC key's size from the digits of its curve name and passes any curve whose name
// has no three-digit run (wap-wsg-idm-ecid-wtls1/4/6/8: 112/113 bits; Oakley-EC2N-3/4), and it checks an
// RSA key's modulus but not its exponent: e = 1 makes every "signature" verify without the private key.
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weakKeyOf } from '../../src/listen/cert-key.js';
import { request } from '../support/client.js';
import { expectErrorContract } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const dir = mkdtempSync(join(tmpdir(), 'fapi-review-certkey-'));
const openssl = (...args: string[]): void => {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
};

interface Cert {
  readonly x509: X509Certificate;
  readonly der: Buffer;
  readonly x5t: string;
}
const load = (file: string): Cert => {
  const x509 = new X509Certificate(readFileSync(file));
  const der = Buffer.from(x509.raw);
  return { x509, der, x5t: createHash('sha256').update(der).digest('base64url') };
};

/** Self-signed EC certificate on a named curve, made by the openssl CLI. */
function ecCert(curve: string): Cert {
  const [crt, key] = [join(dir, `${curve}.crt`), join(dir, `${curve}.key`)];
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${curve}`);
  return load(crt);
}

/** A certificate (signed by a throwaway CA) for an RSA-2048 public key whose exponent is 1. */
function rsaExponentOneCert(): Cert {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const n = Buffer.from(publicKey.export({ format: 'jwk' }).n as string, 'base64url');
  const len = (l: number): Buffer => (l < 128 ? Buffer.of(l) : l < 256 ? Buffer.of(0x81, l) : Buffer.of(0x82, l >> 8, l & 255));
  const tlv = (t: number, b: Buffer): Buffer => Buffer.concat([Buffer.of(t), len(b.length), b]);
  const int = (b: Buffer): Buffer => tlv(2, (b[0] as number) & 0x80 ? Buffer.concat([Buffer.of(0), b]) : b);
  const rsaPublicKey = tlv(0x30, Buffer.concat([int(n), int(Buffer.of(1))]));
  const spki = tlv(0x30, Buffer.concat([Buffer.from('300d06092a864886f70d0101010500', 'hex'), tlv(3, Buffer.concat([Buffer.of(0), rsaPublicKey]))]));
  const pub = join(dir, 'e1.pub.pem');
  writeFileSync(pub, `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`);
  const f = (n: string): string => join(dir, n);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=ca');
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('tmp.key'), '-out', f('tmp.csr'), '-subj', '/CN=e1');
  openssl('x509', '-req', '-in', f('tmp.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-force_pubkey', pub, '-out', f('e1.crt'), '-days', '2');
  const c = load(f('e1.crt'));
  expect(c.x509.publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 1n });
  return c;
}

let wtls8: Cert;
let wtls1: Cert;
let e1: Cert;
let h: Harness;
beforeAll(async () => {
  wtls8 = ecCert('wap-wsg-idm-ecid-wtls8');
  wtls1 = ecCert('wap-wsg-idm-ecid-wtls1');
  e1 = rsaExponentOneCert();
  const routes = [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' } }];
  h = await startHarness({ routes, patch: (c) => (c.server.forwarded_client_cert = { header: 'client-cert', trusted_peers: ['127.0.0.0/8'] }) });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('weakKeyOf: keys below the TLS-7 / FAPI2-SP 5.4.1 floor', () => {
  it('EC key on wap-wsg-idm-ecid-wtls8 (a 112-bit prime curve) is weak', () => {
    expect(wtls8.x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe('wap-wsg-idm-ecid-wtls8');
    expect(weakKeyOf(wtls8.x509)).toBeDefined();
  });
  it('EC key on wap-wsg-idm-ecid-wtls1 (a 113-bit binary curve) is weak', () => {
    expect(weakKeyOf(wtls1.x509)).toBeDefined();
  });
  it('RSA-2048 key with public exponent 1 is weak (the DPoP check refuses e < 65537 for this reason)', () => {
    expect(weakKeyOf(e1.x509)).toBeDefined();
  });
});

describe('MTLS-2 / MTLS-5: a forwarded certificate with such a key binds nothing', () => {
  const asRfc9440 = (c: Cert): string => `:${c.der.toString('base64')}:`;
  for (const [name, cert] of [
    ['EC wtls8 (112-bit)', () => wtls8],
    ['RSA-2048 e=1', () => e1],
  ] as const) {
    it(`Client-Cert from a trusted hop, ${name}, token bound to it -> 401 invalid_token, not forwarded`, async () => {
      const c = cert();
      const before = h.upstream.received.length;
      const token = await h.issuer.mint({ cnf: cnfX5t(c.x5t) });
      const r = await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(c)]] });
      expectErrorContract(r, 401, 'invalid_token');
      expect(h.upstream.received.length).toBe(before);
    });
  }
});

describe('MTLS-2 over the gateway\'s own TLS: an e=1 certificate can be presented by anyone who has seen it', () => {
  it('TLS handshake with the e=1 certificate and a "private key" built from its public modulus alone (d = 1, bogus p = q = 3) -> must be 401', async () => {
    const n = e1.x509.publicKey.export({ format: 'jwk' }).n as string;
    const one = Buffer.of(1).toString('base64url');
    const three = Buffer.of(3).toString('base64url');
    const forged = createPrivateKey({ key: { kty: 'RSA', n, e: one, d: one, p: three, q: three, dp: one, dq: one, qi: one }, format: 'jwk' });
    const d = await startHarness();
    try {
      const before = d.upstream.received.length;
      const token = await d.issuer.mint({ cnf: cnfX5t(e1.x5t) });
      const r = await request(d.url('/mtls/e1'), {
        ca: d.pki.ca.certPem,
        servername: 'localhost',
        cert: e1.x509.toString(),
        key: forged.export({ format: 'pem', type: 'pkcs8' }) as string,
        headers: [['Authorization', `Bearer ${token}`]],
      });
      expectErrorContract(r, 401, 'invalid_token');
      expect(d.upstream.received.length).toBe(before);
    } finally {
      await d.close();
    }
  });
});
