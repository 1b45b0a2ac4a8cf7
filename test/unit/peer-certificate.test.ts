// TLS-11: the getPeerCertificate() that replaces Node 24's (which crashes on brainpool and secp256k1 keys)
// must give Node's own TLS client, and anything else reading it, the same object, less the key fields.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, connect, createServer, type DetailedPeerCertificate, type PeerCertificate, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateObject, guardPeerCertificates } from '../../src/peer-certificate.js';
import { testPki, type TestPki } from '../support/pki.js';

const KEY_FIELDS = ['pubkey', 'bits', 'modulus', 'exponent', 'asn1Curve', 'nistCurve'];
const withoutKeyFields = (o: object): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([k, v]) => !KEY_FIELDS.includes(k) && v !== undefined));
const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));

let pki: TestPki;
let dir: string;
const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'fapi-peer-cert-'));
  writeFileSync(
    join(dir, 'ext'),
    [
      'subjectAltName=DNS:a.example,DNS:*.b.example,IP:127.0.0.1,email:ops@bank.example',
      'authorityInfoAccess=OCSP;URI:http://ocsp.example/,caIssuers;URI:http://ca.example/ca.crt',
      'extendedKeyUsage=serverAuth,clientAuth',
      'basicConstraints=CA:FALSE',
    ].join('\n'),
  );
  // A subject with repeated attributes and RFC 2253 specials in a value.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'odd.key', '-out', 'odd.crt', '-days', '2', '-subj', '/C=DE/O=Bank, AG/OU=Payments/OU=APIs/CN=a\\+b "q" <x>;y=z', ...readFileSync(join(dir, 'ext'), 'utf8').trim().split('\n').flatMap((l) => ['-addext', l])]);
  for (const [name, curve] of [['bp', 'brainpoolP256r1'], ['k1', 'secp256k1']]) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name} root`, '-addext', 'basicConstraints=critical,CA:TRUE']);
  }
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=leaf']);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'bp.crt', '-CAkey', 'bp.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '1', '-extfile', 'ext']);
}, 60_000);

describe('certificateObject: what toLegacyObject() gives, without the key fields', () => {
  it.each([
    ['an RSA server certificate', () => pki.server.certPem],
    ['a P-256 client certificate', () => pki.client1.certPem],
    ['a CA certificate', () => pki.ca.certPem],
    ['repeated OUs, specials in the CN, AIA, EKU, several SANs', () => readFileSync(join(dir, 'odd.crt'), 'utf8')],
  ])('%s', (_what, pem) => {
    const x = new X509Certificate(pem());
    const ours = certificateObject(x);
    expect(plain(ours)).toEqual(plain(withoutKeyFields(x.toLegacyObject())));
    expect(Buffer.compare((ours as { raw: Buffer }).raw, x.raw)).toBe(0);
  });

  it('reads the repeated and escaped subject attributes as Node does', () => {
    const o = certificateObject(new X509Certificate(readFileSync(join(dir, 'odd.crt'))));
    expect(o.subject).toMatchObject({ O: 'Bank, AG', OU: ['Payments', 'APIs'], CN: 'a+b "q" <x>;y=z' });
    expect(o.infoAccess).toMatchObject({ 'OCSP - URI': ['http://ocsp.example/'], 'CA Issuers - URI': ['http://ca.example/ca.crt'] });
  });

  it.each(['bp', 'k1'])('a %s key (Node crashes reading it) gives the object without crashing', (name) => {
    const x = new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
    const o = certificateObject(x);
    expect(o.subject).toEqual(expect.objectContaining({ CN: `${name} root` }));
    expect(o.fingerprint256).toBe(x.fingerprint256);
    expect(o.ca).toBe(true);
  });
});

describe('guardPeerCertificates: Node TLS client handshakes with such chains', () => {
  /** `checked` is what Node's own host-name check was given; `cert`, `plainCert`, `x509s` what the caller reads after. */
  const handshake = (leaf: string, chain: string[], ca: string): Promise<{ checked: PeerCertificate; cert: DetailedPeerCertificate; plainCert: object; x509s: (X509Certificate | undefined)[] }> =>
    new Promise((ok, fail) => {
      const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
      const server = createServer({ key: read(`${leaf}.key`), cert: [read(`${leaf}.crt`), ...chain.map(read)].join('') }, (s) => s.end());
      let checked: PeerCertificate | undefined;
      server.listen(0, '127.0.0.1', () => {
        const s: TLSSocket = connect(
          { host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: read(ca), servername: 'a.example', checkServerIdentity: (host, cert) => ((checked = cert), checkServerIdentity(host, cert)) },
          () => {
            const result = { checked: checked!, cert: s.getPeerCertificate(true), plainCert: s.getPeerCertificate(), x509s: [s.getPeerX509Certificate(), s.getPeerX509Certificate()] };
            s.destroy();
            server.close();
            ok(result);
          },
        );
        s.on('error', (e) => (server.close(), fail(e)));
      });
    });

  beforeAll(() => guardPeerCertificates());

  it('a P-256 leaf issued by a brainpool root (not sent): verified, host name checked, no crash', async () => {
    const { checked, cert, plainCert, x509s } = await handshake('leaf', [], 'bp.crt');
    expect(checked.subject.CN).toBe('leaf');
    expect(checked.subjectaltname).toContain('DNS:a.example');
    // Read again after the handshake (Node 24 hands a client socket's peer certificate out only once).
    expect(cert.subject.CN).toBe('leaf');
    expect(x509s.map((x) => x?.subject)).toEqual(['CN=leaf', 'CN=leaf']);
    expect(cert.issuerCertificate).toBeUndefined();
    expect(plain(plainCert)).toEqual(plain(cert));
  });

  it('the same leaf with the root sent: the chain ends in the root, which points at itself', async () => {
    const { cert } = await handshake('leaf', ['bp.crt'], 'bp.crt');
    expect(cert.issuerCertificate.subject.CN).toBe('bp root');
    expect(cert.issuerCertificate.issuerCertificate).toBe(cert.issuerCertificate);
  });

  it('the host name is still checked: a name the certificate does not carry is refused', async () => {
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    const server = createServer({ key: read('leaf.key'), cert: read('leaf.crt') }, (s) => s.end());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const err = await new Promise<NodeJS.ErrnoException>((ok) => {
      const s = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: read('bp.crt'), servername: 'other.example' }, () => ok(new Error('connected') as NodeJS.ErrnoException));
      s.on('error', ok);
    });
    server.close();
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
