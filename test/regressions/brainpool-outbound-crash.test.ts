// Found in review (fixed; the test failed before): TLS-11 / README "fail closed, never a crash". Node 24's
// TLS client calls TLSSocket.getPeerCertificate(true) on every verified handshake (to check the host
// name), and for an EC key on a curve without a NIST name (brainpoolP256r1: BSI TR-03116 recommends it,
// German banks use it) its X509ToObject dereferences a NULL curve name: SIGSEGV. The chain it walks
// includes the trust store's root, so a P-256 server certificate issued by a brainpool root crashes it
// too. Every outbound TLS connection was exposed: the issuer's JWKS, the upstream, Redis (rediss://).
// The gateway runs as its own process (the real CLI): a crash must not take the test runner down.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, get, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { adminGet, cliFixtures, eventually, jsonLines } from '../support/cli.js';
import { request } from '../support/client.js';
import { dpopKey, proof } from '../support/dpop.js';
import { cnfJkt, cnfX5t, type TestIssuer } from '../support/issuer.js';
import type { PkiFiles, TestPki } from '../support/pki.js';
import { freePort, uniquePrefix } from '../support/redis.js';
import type { TestUpstream } from '../support/upstream.js';

let cliJs: string;
let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;
let rootFile: string;
const servers: (HttpsServer | TlsServer)[] = [];
let jwksPort: number;
let httpsUpstreamPort: number;
let redisTlsPort: number;

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
const listen = async <S extends HttpsServer | TlsServer>(s: S): Promise<number> => {
  servers.push(s);
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  ({ cliJs, pki, files, issuer, upstream } = await cliFixtures('dist-brainpool-outbound'));
  const dir = join(files.dir, 'bp-outbound');
  mkdirSync(dir, { recursive: true });
  const f = (name: string): string => join(dir, name);
  rootFile = f('root.crt');
  // A brainpoolP256r1 root; a P-256 leaf and a brainpoolP256r1 leaf it issued, for 127.0.0.1.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:brainpoolP256r1', '-nodes', '-keyout', f('root.key'), '-out', rootFile, '-days', '2', '-subj', '/CN=bp root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  writeFileSync(f('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  for (const [name, curve] of [['p256', 'prime256v1'], ['bp', 'brainpoolP256r1']] as const) {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name} server`]);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', rootFile, '-CAkey', f('root.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '1', '-extfile', f('ext')]);
  }
  const tlsOf = (name: string) => ({ key: readFileSync(f(`${name}.key`)), cert: readFileSync(f(`${name}.crt`)) });

  // The issuer's JWKS, served again by a host whose P-256 certificate a brainpool root issued.
  const jwks = await new Promise<string>((ok, fail) =>
    get(issuer.jwksUri, { ca: issuer.caPem }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => ok(body));
    }).on('error', fail),
  );
  jwksPort = await listen(createHttpsServer(tlsOf('p256'), (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks)));
  // An https upstream with a brainpool server certificate.
  httpsUpstreamPort = await listen(createHttpsServer(tlsOf('bp'), (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('upstream ok')));
  // rediss://: TLS in front of the real Redis.
  redisTlsPort = await listen(
    createTlsServer(tlsOf('p256'), (s) => {
      const r = netConnect(6379, '127.0.0.1');
      s.pipe(r).pipe(s);
      s.on('error', () => r.destroy());
      r.on('error', () => s.destroy());
    }),
  );
}, 120_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await issuer?.close();
  await upstream?.close();
});

async function startCli(): Promise<{ child: ChildProcess; apiPort: number; adminPort: number; exited: Promise<string> }> {
  const apiPort = await freePort();
  const adminPort = await freePort();
  const auth = (binding: string) => ({ issuers: ['main'], audience: 'https://api.test', binding });
  const file = join(files.dir, 'bp-outbound', 'config.yaml');
  writeFileSync(
    file,
    stringify({
      server: { listen: `127.0.0.1:${apiPort}`, public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      admin: { listen: `127.0.0.1:${adminPort}` },
      issuers: { main: { issuer: issuer.issuer, jwks_uri: `https://127.0.0.1:${jwksPort}/jwks`, ca_file: rootFile } },
      replay: { store: 'redis', redis: { url_env: 'BP_REDIS_URL', tls: true, key_prefix: uniquePrefix('bp-outbound') } },
      routes: [
        { id: 'm', match: { methods: ['GET'], path_prefix: '/m' }, auth: auth('mtls'), upstream: { url: `https://127.0.0.1:${httpsUpstreamPort}`, ca_file: rootFile } },
        { id: 'd', match: { methods: ['GET'], path_prefix: '/d' }, auth: auth('dpop'), upstream: { url: upstream.url } },
      ],
    }),
  );
  const env = { ...process.env, BP_REDIS_URL: `rediss://127.0.0.1:${redisTlsPort}`, NODE_EXTRA_CA_CERTS: rootFile };
  const child = spawn(process.execPath, [cliJs, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  jsonLines(child.stdout!);
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<string>((ok) => child.on('exit', (code, sig) => ok(`exited code=${code} signal=${sig}`)));
  return { child, apiPort, adminPort, exited };
}

describe('TLS-11: outbound TLS to hosts whose chain holds a brainpool key', () => {
  it('JWKS (P-256 leaf, brainpool root), https upstream (brainpool leaf) and rediss:// all work; the process lives', async () => {
    const g = await startCli();
    try {
      // Ready means: the JWKS was fetched and Redis answered, both over those TLS connections.
      const ready = eventually(async () => (await adminGet(`http://127.0.0.1:${g.adminPort}/readyz`).catch(() => ({ status: 0 }))).status === 200, 20_000).then(() => 'ready');
      expect(await Promise.race([ready, g.exited])).toBe('ready');

      const call = { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client1.certPem, key: pki.client1.keyPem };
      const mtls = await request(`https://127.0.0.1:${g.apiPort}/m/x`, { ...call, headers: [['Authorization', `Bearer ${await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) })}`]] });
      expect(mtls.status).toBe(200);
      expect(mtls.body).toBe('upstream ok');

      // DPOP-21: a new key prefix starts a new replay record; proofs made before it began are refused.
      await new Promise((r) => setTimeout(r, 2500));
      const key = await dpopKey();
      const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
      const dpop = await proof(key, { htm: 'GET', htu: 'https://api.test/d/x', token });
      const r = await request(`https://127.0.0.1:${g.apiPort}/d/x`, { ...call, headers: [['Authorization', `DPoP ${token}`], ['DPoP', dpop]] });
      expect(r.status).toBe(200);
      // The same proof again: the replay store (over rediss://) refuses it.
      const again = await request(`https://127.0.0.1:${g.apiPort}/d/x`, { ...call, headers: [['Authorization', `DPoP ${token}`], ['DPoP', dpop]] });
      expect(again.status).toBe(401);

      const alive = await Promise.race([g.exited, new Promise<string>((r) => setTimeout(() => r('alive'), 500))]);
      expect(alive).toBe('alive');
    } finally {
      g.child.kill('SIGKILL');
    }
  }, 60_000);
});
