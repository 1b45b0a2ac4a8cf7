// Found in review (fixed; the test failed before): MTLS-5 / TLS-7, forwarded-cert.ts fromDer: only `new X509Certificate(der)` is guarded; the
// weak-key check (cert-key.ts weakKeyOf) reads `cert.publicKey`, which throws for a certificate whose key
// OpenSSL cannot decode (an algorithm Node's OpenSSL lacks, or a malformed key). The throw escapes
// requestFacts, before routing: every request carrying such a Client-Cert gets a 500, on routes that
// need no certificate too, instead of the certificate binding nothing (401 on mTLS routes only).
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorContract } from '../support/contract.js';
import { dpopKey, proof } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';

let h: Harness;
let der: Buffer;
let x5t: string;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.server.forwarded_client_cert = { header: 'client-cert', trusted_peers: ['127.0.0.0/8'] }) });
  // client1's certificate with its SubjectPublicKeyInfo algorithm OID changed to one OpenSSL does not know.
  der = Buffer.from(h.pki.client1.der);
  const spkiAlg = Buffer.from('06072a8648ce3d0201', 'hex'); // id-ecPublicKey
  const rsa = Buffer.from('06092a864886f70d010101', 'hex'); // rsaEncryption
  let i = der.indexOf(spkiAlg);
  let len = spkiAlg.length;
  if (i === -1) {
    i = der.indexOf(rsa);
    len = rsa.length;
  }
  expect(i).toBeGreaterThan(0);
  der[i + len - 1] = 0x63;
  const cert = new X509Certificate(der);
  expect(() => cert.publicKey).toThrow();
  x5t = createHash('sha256').update(der).digest('base64url');
});
afterAll(async () => {
  await h?.close();
});

const clientCert = (): [string, string] => ['Client-Cert', `:${der.toString('base64')}:`];

describe('a forwarded certificate whose key cannot be decoded', () => {
  it('DPoP route (no certificate needed): a valid DPoP request forwarded with such a Client-Cert -> 200', async () => {
    const k = await dpopKey();
    const token = await h.issuer.mint({ cnf: cnfJkt(k.jkt) });
    // control: the same without the header
    const ctl = await h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(k, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token })]] });
    expect(ctl.status).toBe(200);
    const iid = randomUUID();
    const p = await proof(k, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
    const r = await h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], clientCert(), ['x-fapi-interaction-id', iid]] });
    expect({ status: r.status, reason: (await logFor(h, iid))?.reason }).toEqual({ status: 200, reason: 'OK' });
  });
  it('mTLS route, token bound to it -> 401 invalid_token (binds nothing), not 500', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(x5t) });
    const r = await h.call('/mtls/x', { headers: [['Authorization', `Bearer ${token}`], clientCert()] });
    expectErrorContract(r, 401, 'invalid_token');
  });
});
