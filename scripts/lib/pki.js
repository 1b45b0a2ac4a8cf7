// A throw-away PKI for the demo and the tests (test/support/pki.ts builds on it): a CA, server
// certificates (EC or RSA) and client certificates (CA-issued and self-signed), made with
// @peculiar/x509 over Node's WebCrypto. Nothing here is meant for production.
import { createHash, webcrypto } from 'node:crypto';
// @peculiar/x509 2.x resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';

const x509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' };
const RSA = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };

const genKeys = (rsa = false) => webcrypto.subtle.generateKey(rsa ? RSA : EC, true, ['sign', 'verify']);

function validity() {
  const now = Date.now();
  return { notBefore: new Date(now - 3600_000), notAfter: new Date(now + 30 * 86400_000) };
}

async function toPem(cert, keys) {
  const der = Buffer.from(cert.rawData);
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: `${cert.toString('pem')}\n`,
    der,
    keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
    /** RFC 8705 x5t#S256: base64url(SHA-256(DER)) */
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}

export async function createCa(cn) {
  const keys = await genKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys,
    ...validity(),
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { ...(await toPem(cert, keys)), keys, cert };
}

async function issue(ca, cn, eku, san, rsa = false, when = validity()) {
  const keys = await genKeys(rsa);
  const usage = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([eku]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (san) extensions.push(new x509.SubjectAlternativeNameExtension(san));
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: EC_SIGN,
    ...when,
    extensions,
  });
  return toPem(cert, keys);
}

/** A TLS server certificate for the given DNS names and IP addresses; RSA 2048 with `rsa` (ECDHE-RSA suites). */
export function issueServerCert(ca, cn, { dns = ['localhost'], ips = ['127.0.0.1'], rsa = false } = {}) {
  const san = [...dns.map((value) => ({ type: 'dns', value })), ...ips.map((value) => ({ type: 'ip', value }))];
  return issue(ca, cn, x509.ExtendedKeyUsage.serverAuth, san, rsa);
}

/** A CA-issued TLS client certificate (tls_client_auth); `when` = { notBefore, notAfter } for tests. */
export function issueClientCert(ca, cn, when = validity()) {
  return issue(ca, cn, x509.ExtendedKeyUsage.clientAuth, null, false, when);
}

/** A self-signed TLS client certificate (self_signed_tls_client_auth), with its public JWK (x5c). */
export async function selfSignedClientCert(cn) {
  const keys = await genKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys,
    ...validity(),
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const pem = await toPem(cert, keys);
  const jwk = await webcrypto.subtle.exportKey('jwk', keys.publicKey);
  const x5c = [Buffer.from(cert.rawData).toString('base64')];
  return { ...pem, jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, x5c } };
}
