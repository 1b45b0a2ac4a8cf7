// Extra certificates for the tests that need an intermediate CA: a root -> intermediate -> leaf chain (@peculiar/x509).
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';

const x509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto);
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface Made {
  cert: InstanceType<typeof x509.X509Certificate>;
  keys: webcrypto.CryptoKeyPair;
  certPem: string;
  keyPem: string;
  der: Buffer;
  x5tS256: string;
}

async function pem(cert: InstanceType<typeof x509.X509Certificate>, keys: webcrypto.CryptoKeyPair): Promise<Made> {
  const der = Buffer.from(cert.rawData);
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert, keys, der, certPem: `${cert.toString('pem')}\n`, keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`, x5tS256: createHash('sha256').update(der).digest('base64url') };
}

const newKeys = async (): Promise<webcrypto.CryptoKeyPair> => (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

export async function root(cn: string): Promise<Made> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    keys,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 30 * DAY),
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return pem(cert, keys);
}

/** A CA (`ca`) or client leaf issued by `by`. */
export async function issued(by: Made, cn: string, ca: boolean): Promise<Made> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`,
    issuer: by.cert.subject,
    publicKey: keys.publicKey,
    signingKey: by.keys.privateKey,
    signingAlgorithm: EC_SIGN,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 10 * DAY),
    extensions: ca
      ? [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(by.keys.publicKey),
        ]
      : [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          await x509.AuthorityKeyIdentifierExtension.create(by.keys.publicKey),
        ],
  });
  return pem(cert, keys);
}
