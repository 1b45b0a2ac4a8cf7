// DPOP-21, TLS-11: the replay store over rediss:// to a Redis whose certificate a private CA issued
// (replay.redis.ca_file). The real Redis, behind a TLS terminator on loopback with the test CA's server
// certificate; without the CA the store is not trusted and DPoP routes fail closed.
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';
import { uniquePrefix, until } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

let pki: TestPki;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;
let key: DpopKey;
let terminator: Server;
let url: string;
const harnesses: Harness[] = [];

beforeAll(async () => {
  pki = await testPki();
  files = await writePki(undefined, pki);
  issuer = await startIssuer({ pki });
  upstream = await startUpstream();
  key = await dpopKey();
  // TLS in front of the machine's Redis, with a certificate for 127.0.0.1 from the test CA.
  terminator = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (s) => {
    const r = netConnect(6379, '127.0.0.1');
    s.pipe(r).pipe(s);
    s.on('error', () => r.destroy());
    r.on('error', () => s.destroy());
  });
  await new Promise<void>((ok) => terminator.listen(0, '127.0.0.1', ok));
  url = `rediss://127.0.0.1:${(terminator.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const h of harnesses) await h.close();
  terminator?.close();
  await issuer?.close();
  await upstream?.close();
});

async function gateway(redis: Record<string, unknown>): Promise<Harness> {
  const h = await startHarness({
    issuer,
    upstream,
    env: { TEST_REDIS_URL: url },
    patch: (c) => {
      c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('redis-tls-ca'), tls: true, ...redis } };
    },
  });
  harnesses.push(h);
  return h;
}

const readyz = async (h: Harness): Promise<number> => (await fetch(`${h.adminUrl}/readyz`)).status;

describe('replay.redis.ca_file', () => {
  it('with the private CA: ready, a DPoP request passes and its replay is refused', async () => {
    const h = await gateway({ ca_file: files.caFile });
    expect(await until(async () => (await readyz(h)) === 200, 8000)).toBe(true);
    // DPOP-21: a new key prefix starts a new replay record; proofs made before it began are refused.
    await new Promise((r) => setTimeout(r, 2500));
    const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
    const call = () => h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expect((await call()).status).toBe(200);
    const again = await call();
    expect(again.status).toBe(401);
    expect(again.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
  });

  it('without it the Redis certificate is not trusted: not ready, DPoP requests fail closed with 503', async () => {
    const h = await gateway({});
    await new Promise((r) => setTimeout(r, 1500));
    expect(await readyz(h)).toBe(503);
    const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
    const r = await h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expect(r.status).toBe(503);
    expect(upstream.received.filter((q) => q.url === '/dpop/x')).toHaveLength(1);
  });

  it('needs tls: true (config refused, naming the setting)', () => {
    const base = { server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'c', key_file: 'k' } }, issuers: { m: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } }, routes: [{ id: 'a', match: { path_prefix: '/a' }, auth: { issuers: ['m'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:1' } }] };
    const cfg = { ...base, replay: { store: 'redis', redis: { url_env: 'X', ca_file: 'ca.pem' } } };
    expect(() => parseConfig(JSON.stringify(cfg), 'x.yaml', { X: 'redis://127.0.0.1:6379' })).toThrow(ConfigError);
    expect(() => parseConfig(JSON.stringify(cfg), 'x.yaml', { X: 'redis://127.0.0.1:6379' })).toThrow(/replay\.redis\.ca_file.*tls/s);
  });
});
