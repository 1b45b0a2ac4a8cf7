// Review of today's diff (pins, passing): src/forward/proxy-forwarder.ts now forces the https agent's
// `servername` to the host of upstream.url (TLS-11) and never reuses an upstream connection after a HEAD,
// 204 or 304 answer; src/peer-certificate.ts replaces TLSSocket.prototype.getPeerCertificate and keeps a
// client socket's first peer certificate. What this must not break, against a real https upstream named
// by host name (upstream.url https://localhost:port):
// - pooling: servername equal to the host adds nothing to the agent's pool key, so sequential requests
//   share one TLS connection; under preserve_host the client's Host no longer splits the pool;
// - the new connection after a HEAD resumes the TLS session (no host-name check on resumption, by Node's
//   design; nothing in the gateway reads the peer certificate then) and is answered;
// - a full handshake later (the upstream forgot its tickets) is checked again: a certificate for another
//   name is a 502, nothing forwarded.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { issueServerCert, testPki, type Pem } from '../support/pki.js';

let h: Harness;
let up: Server;
let own: Pem;
let other: Pem;
/** One entry per TLS connection the upstream accepted: whether it resumed a session. */
const conns: { reused: boolean }[] = [];
const served: { method: string; url: string; host: string | undefined }[] = [];

beforeAll(async () => {
  const pki = await testPki();
  own = await issueServerCert(pki.ca, { cn: 'legacy', dnsNames: ['localhost'], ips: [] });
  other = await issueServerCert(pki.ca, { cn: 'other', dnsNames: ['other.test'], ips: [] });
  up = createServer({ cert: own.certPem, key: own.keyPem, keepAliveTimeout: 10_000 }, (req, res) => {
    served.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host });
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '8' }).end(req.method === 'HEAD' ? undefined : 'upstream');
  });
  up.on('secureConnection', (s: TLSSocket) => conns.push({ reused: s.isSessionReused() }));
  up.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(up.address() as AddressInfo).port}`;
  h = await startHarness({
    routes: [
      { id: 'plain', match: { methods: ['GET', 'HEAD'], path_prefix: '/plain' }, auth: { binding: 'mtls' }, upstream: { url } },
      { id: 'kept', match: { methods: ['GET'], path_prefix: '/kept' }, auth: { binding: 'mtls' }, upstream: { url, preserve_host: true } },
    ],
    patch: (c) => {
      for (const r of c.routes) r.upstream.ca_file = c.issuers.main.ca_file;
    },
  });
});
afterAll(async () => {
  await h?.close();
  up?.closeAllConnections();
  up?.close();
});

const call = async (method: string, path: string, host = 'api.test') => {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  return h.call(path, { method, cert: h.pki.client1, headers: [['Host', host], ['Authorization', `Bearer ${token}`]] });
};

describe('https upstream named by host: pooling, resumption and re-checking after the servername change', () => {
  it('sequential GETs, also under preserve_host with different client Hosts, share one TLS connection', async () => {
    conns.length = 0;
    served.length = 0;
    for (const [path, host] of [['/plain/1', 'api.test'], ['/plain/2', 'api.test'], ['/kept/1', 'api.test'], ['/kept/2', 'other.test'], ['/plain/3', 'api.test']] as const) {
      expect((await call('GET', path, host)).status).toBe(200);
    }
    expect(conns.length).toBe(1);
    expect(served.map((s) => s.host)).toEqual([`localhost:${(up.address() as AddressInfo).port}`, `localhost:${(up.address() as AddressInfo).port}`, 'api.test', 'other.test', `localhost:${(up.address() as AddressInfo).port}`]);
  });

  it('after a HEAD the connection is not reused; the next one resumes the TLS session and is answered', async () => {
    conns.length = 0;
    expect((await call('HEAD', '/plain/h')).status).toBe(200);
    expect((await call('GET', '/plain/after-head')).status).toBe(200);
    // The pooled connection of the test above, if still open, serves the HEAD; the GET needs a new one.
    expect(conns.length).toBeGreaterThanOrEqual(1);
    expect(conns.at(-1)?.reused).toBe(true);
  });

  it('a full handshake later (tickets forgotten) with a certificate for another name: 502, nothing forwarded', async () => {
    expect((await call('HEAD', '/plain/h2')).status).toBe(200); // the pooled connection closes after it
    up.setSecureContext({ cert: other.certPem, key: other.keyPem });
    up.setTicketKeys(randomBytes(48));
    conns.length = 0;
    served.length = 0;
    const r = await call('GET', '/plain/wrong-name');
    // (The upstream sees no completed connection: the gateway aborts the handshake at the name check.)
    expect({ status: r.status, forwarded: served.length, resumed: conns.some((c) => c.reused) }).toEqual({ status: 502, forwarded: 0, resumed: false });
    up.setSecureContext({ cert: own.certPem, key: own.keyPem });
  });
});
