// Test PKI: real X.509 certs generated with @peculiar/x509 over Node's webcrypto.
import { createHash, type webcrypto } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';

// @peculiar/x509 2.x resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
const x509: typeof X509 = await import('@peculiar/x509');
x509.cryptoProvider.set(globalThis.crypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface Pem {
  certPem: string;
  keyPem: string;
  der: Buffer;
  /** base64url(sha256(DER)), no padding: the RFC 8705 `x5t#S256` value */
  x5tS256: string;
}

export interface Ca extends Pem {
  keys: CryptoKeyPair;
  cert: X509.X509Certificate;
}

export interface IssueOpts {
  cn: string;
  /** default ['localhost'] */
  dnsNames?: string[];
  /** default ['127.0.0.1'] */
  ips?: string[];
  /** RSA 2048 instead of EC P-256 */
  rsa?: boolean;
}

export interface TestPki {
  ca: Ca;
  /** RSA 2048, SAN DNS:localhost IP:127.0.0.1 */
  server: Pem;
  client1: Pem;
  client2: Pem;
  selfSigned: Pem;
}

export interface PkiFiles {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  client1CertFile: string;
  client1KeyFile: string;
  client2CertFile: string;
  client2KeyFile: string;
  selfSignedCertFile: string;
  selfSignedKeyFile: string;
}

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const RSA: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

function genKeys(rsa = false): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(rsa ? RSA : EC, true, ['sign', 'verify']);
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 3600_000), notAfter: new Date(now + 30 * 86400_000) };
}

function signingAlg(key: CryptoKey): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return key.algorithm.name === 'ECDSA' ? EC_SIGN : { name: 'RSASSA-PKCS1-v1_5' };
}

async function toPem(cert: X509.X509Certificate, keys: CryptoKeyPair): Promise<Pem> {
  const der = Buffer.from(cert.rawData);
  const pkcs8 = await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    der,
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}

export async function createCa(cn: string): Promise<Ca> {
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

async function issue(ca: Ca, cn: string, eku: X509.ExtendedKeyUsage, san: X509.JsonGeneralNames | null, rsa = false): Promise<Pem> {
  const keys = await genKeys(rsa);
  const usage = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: X509.Extension[] = [
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
    signingAlgorithm: signingAlg(ca.keys.privateKey),
    ...validity(),
    extensions,
  });
  return toPem(cert, keys);
}

export function issueServerCert(ca: Ca, opts: IssueOpts): Promise<Pem> {
  const san: X509.JsonGeneralNames = [
    ...(opts.dnsNames ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
  ];
  return issue(ca, opts.cn, x509.ExtendedKeyUsage.serverAuth, san, opts.rsa);
}

export function issueClientCert(ca: Ca, cn: string): Promise<Pem> {
  return issue(ca, cn, x509.ExtendedKeyUsage.clientAuth, null);
}

export async function selfSignedClientCert(cn: string): Promise<Pem> {
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
  return toPem(cert, keys);
}

let cached: Promise<TestPki> | undefined;

/** One PKI per process (memoised). */
export function testPki(): Promise<TestPki> {
  cached ??= (async () => {
    const ca = await createCa('fapi-gateway test CA');
    const [server, client1, client2, selfSigned] = await Promise.all([
      issueServerCert(ca, { cn: 'localhost', rsa: true }),
      issueClientCert(ca, 'client-1'),
      issueClientCert(ca, 'client-2'),
      selfSignedClientCert('self-signed-client'),
    ]);
    return { ca, server, client1, client2, selfSigned };
  })();
  return cached;
}

/** Write the PKI as PEM files into `dir` (default: a fresh temp dir). Caller removes it. */
export async function writePki(dir?: string, pki?: TestPki): Promise<PkiFiles> {
  const p = pki ?? (await testPki());
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'fapi-pki-')));
  const files: PkiFiles = {
    dir: d,
    caFile: join(d, 'ca.pem'),
    serverCertFile: join(d, 'server.crt'),
    serverKeyFile: join(d, 'server.key'),
    client1CertFile: join(d, 'client1.crt'),
    client1KeyFile: join(d, 'client1.key'),
    client2CertFile: join(d, 'client2.crt'),
    client2KeyFile: join(d, 'client2.key'),
    selfSignedCertFile: join(d, 'self-signed.crt'),
    selfSignedKeyFile: join(d, 'self-signed.key'),
  };
  await Promise.all([
    writeFile(files.caFile, p.ca.certPem),
    writeFile(files.serverCertFile, p.server.certPem),
    writeFile(files.serverKeyFile, p.server.keyPem, { mode: 0o600 }),
    writeFile(files.client1CertFile, p.client1.certPem),
    writeFile(files.client1KeyFile, p.client1.keyPem, { mode: 0o600 }),
    writeFile(files.client2CertFile, p.client2.certPem),
    writeFile(files.client2KeyFile, p.client2.keyPem, { mode: 0o600 }),
    writeFile(files.selfSignedCertFile, p.selfSigned.certPem),
    writeFile(files.selfSignedKeyFile, p.selfSigned.keyPem, { mode: 0o600 }),
  ]);
  return files;
}
