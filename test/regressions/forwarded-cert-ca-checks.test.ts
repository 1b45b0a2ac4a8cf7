// Found in review (fixed; the test failed before): MTLS-4 / MTLS-5. A certificate forwarded by a trusted
// hop must pass what a direct TLS connection checks, but chainsTo() never looked at the issuing CA
// certificate itself: a CA in client_ca_file that had expired, or an "issuer" that is not a CA
// (basicConstraints cA=FALSE), still made a forwarded leaf trusted (200, forwarded), where OpenSSL
// refuses both directly (401). Now the issuer must be a currently valid CA, except the certificate
// itself when the file pins it (a self-signed client), which OpenSSL accepts too.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { testPki } from '../support/pki.js';

const x509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto);
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

interface Made {
  cert: InstanceType<typeof x509.X509Certificate>;
  keys: webcrypto.CryptoKeyPair;
  certPem: string;
  keyPem: string;
  der: Buffer;
  x5t: string;
}

async function pem(cert: InstanceType<typeof x509.X509Certificate>, keys: webcrypto.CryptoKeyPair): Promise<Made> {
  const der = Buffer.from(cert.rawData);
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    cert,
    keys,
    der,
    certPem: `${cert.toString('pem')}\n`,
    keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
    x5t: createHash('sha256').update(der).digest('base64url'),
  };
}

/** A self-signed issuer; `ca: false` gives basicConstraints cA=FALSE (but keyCertSign, so checkIssued passes). */
async function issuer(cn: string, notBefore: Date, notAfter: Date, ca = true): Promise<Made> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys,
    notBefore,
    notAfter,
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(ca, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return pem(cert, keys);
}

/** A client certificate valid now (clientAuth), issued by `by`. */
async function leaf(by: Made, cn: string): Promise<Made> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`,
    issuer: by.cert.subject,
    publicKey: keys.publicKey,
    signingKey: by.keys.privateKey,
    signingAlgorithm: EC_SIGN,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 10 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(by.keys.publicKey),
    ],
  });
  return pem(cert, keys);
}

const routes = [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' } }];
let h: Harness;
let expiredCa: Made;
let notACa: Made;

beforeAll(async () => {
  const now = Date.now();
  expiredCa = await issuer('retired client CA', new Date(now - 400 * DAY), new Date(now - DAY));
  notACa = await issuer('pinned leaf, not a CA', new Date(now - DAY), new Date(now + 30 * DAY), false);
  const { ca, client2 } = await testPki();
  const hop = client2.x5tS256;
  const bundle = join(await mkdtemp(join(tmpdir(), 'fapi-review-cas-')), 'client-cas.pem');
  await writeFile(bundle, ca.certPem + expiredCa.certPem + notACa.certPem);
  h = await startHarness({
    routes,
    patch: (c) => {
      // The hop is trusted by its pinned certificate (client2), so a direct connection is a real control.
      c.server.forwarded_client_cert = { header: 'client-cert', trusted_peer_certificates: [hop] };
      c.server.tls.client_ca_file = bundle;
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const asRfc9440 = (m: Made): string => `:${m.der.toString('base64')}:`;

describe('MTLS-4 / MTLS-5: the issuing CA of a forwarded certificate is checked like OpenSSL does', () => {
  for (const which of ['expired CA', 'issuer with cA=FALSE'] as const) {
    it(`a leaf issued by an ${which} in client_ca_file: refused directly, so also through the trusted hop -> 401`, async () => {
      const client = await leaf(which === 'expired CA' ? expiredCa : notACa, `client of ${which}`);
      const token = await h.issuer.mint({ cnf: cnfX5t(client.x5t) });
      // Control: over a direct TLS connection OpenSSL refuses the chain.
      const direct = await h.call('/direct', { cert: { certPem: client.certPem, keyPem: client.keyPem } as never, headers: [['Authorization', `Bearer ${token}`]] });
      expect(direct.status, 'direct TLS control').toBe(401);
      const before = h.upstream.received.length;
      const r = await h.call('/via-hop', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(client)]] });
      expect({ status: r.status, forwarded: h.upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 });
      expect(r.headers['www-authenticate']).toContain('Bearer realm="api.test", error="invalid_token"');
    });
  }

  it('a self-signed client certificate pinned in client_ca_file (cA=FALSE): accepted directly and through the hop', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(notACa.x5t) });
    const direct = await h.call('/direct', { cert: { certPem: notACa.certPem, keyPem: notACa.keyPem } as never, headers: [['Authorization', `Bearer ${token}`]] });
    expect(direct.status, 'direct TLS control').toBe(200);
    const r = await h.call('/via-hop', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(notACa)]] });
    expect(r.status).toBe(200);
  });
});
