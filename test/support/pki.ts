// Test PKI: real X.509 certificates from the demo's generator (scripts/lib/pki.js), memoised per
// process, and written to PEM files for configs.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lib from '../../scripts/lib/pki.js';
import type { Ca, Pem } from '../../scripts/lib/pki.js';

export type { Ca, Pem };

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

export const createCa = (cn: string): Promise<Ca> => lib.createCa(cn);

export function issueServerCert(ca: Ca, opts: IssueOpts): Promise<Pem> {
  return lib.issueServerCert(ca, opts.cn, { dns: opts.dnsNames, ips: opts.ips, rsa: opts.rsa });
}

export const issueClientCert = (ca: Ca, cn: string, when?: { notBefore: Date; notAfter: Date }): Promise<Pem> => lib.issueClientCert(ca, cn, when);

export const selfSignedClientCert = (cn: string): Promise<Pem> => lib.selfSignedClientCert(cn);

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
