// Found in review (fixed; the test failed before): outbound dependencies: text a remote server controls reaches the log unbounded. The project cuts
// remote and client-chosen text in log details (introspection details: 300 characters, the metadata
// issuer in introspection discovery: 100; signature refusals: test/regressions/signature-log-detail-bounded)
// because lines are written synchronously and a burst of long ones fills the log pipeline. Two outbound
// paths do not:
// - src/token/issuer-keys.ts:223 puts the metadata document's whole `issuer` member into the error, which
//   becomes (issuer-keys.ts:210) the `jwks fetch failed` line and the `detail` of every request that waited on that fetch;
// - src/signature/client-jwks.ts:158 keeps the fetch error's message (for a certificate naming other hosts,
//   Node lists every name in it) and repeats it in the `detail` of every 503 until the next fetch
//   (client-jwks.ts:130, :137).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { edKey, mtlsToken, sign, type ClientKey } from '../support/http-sig.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { issueServerCert, testPki } from '../support/pki.js';

const BOUND = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('log details from outbound failures are bounded', () => {
  let issuer: TestIssuer;
  let h: Harness;
  let k: ClientKey;
  let metadataIssuer = '';
  const meta = createServer({}, (_q, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: metadataIssuer, jwks_uri: issuer.jwksUri }));
  });
  // The client's directory host presents a certificate for 1500 other addresses (a shared CDN certificate, a wrong host).
  const directory = createServer({}, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [k.jwk] })));

  beforeAll(async () => {
    const pki = await testPki();
    issuer = await startIssuer({ pki });
    metadataIssuer = `https://as.example/${'x'.repeat(200_000)}`;
    meta.setSecureContext({ cert: pki.server.certPem, key: pki.server.keyPem });
    const ips = Array.from({ length: 1500 }, (_, i) => `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    const elsewhere = await issueServerCert(pki.ca, { cn: 'cdn', dnsNames: [], ips });
    directory.setSecureContext({ cert: elsewhere.certPem, key: elsewhere.keyPem });
    directory.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => meta.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => directory.listen(0, '127.0.0.1', r));
    k = edKey('k1');
    const metaPort = (meta.address() as AddressInfo).port;
    h = await startHarness({
      issuer,
      routes: [
        { id: 'm', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls', issuers: ['meta'] } },
        { id: 'signed', match: { methods: ['GET'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } },
      ],
      patch: (c) => {
        // An issuer whose jwks_uri is discovered from metadata (served by `meta`, whose issuer is long).
        c.issuers.meta = { issuer: `https://127.0.0.1:${metaPort}`, ca_file: c.issuers.main.ca_file, jwks_refetch_cooldown_s: 1 };
        c.http_signatures = {
          clients: { 'client-1': { jwks_uri: `https://127.0.0.1:${(directory.address() as AddressInfo).port}/client-1.jwks` } },
          client_jwks: { ca_file: c.issuers.main.ca_file, refetch_cooldown_s: 30 },
        };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
    meta.closeAllConnections();
    directory.closeAllConnections();
    meta.close();
    directory.close();
  });

  it('a metadata document whose issuer does not match (200 KB long): the fetch-failed line and the request line stay short', async () => {
    for (let i = 0; i < 400 && !h.logLines().some((l) => l.msg === 'jwks fetch failed' && l.issuer === 'meta'); i++) await sleep(5);
    await sleep(1100); // past the first-fetch back-off: the request below makes the fetch and waits on it
    const iid = randomUUID();
    const token = await issuer.mint({ iss: `https://127.0.0.1:${(meta.address() as AddressInfo).port}`, cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
    expect(r.status).toBe(503);
    const line = await logFor(h, iid);
    const fetchLines = h.logLines().filter((l) => l.msg === 'jwks fetch failed' && l.issuer === 'meta');
    expect(fetchLines.length).toBeGreaterThan(0);
    // Before the fix: ~200 KB each.
    expect(Math.max(...fetchLines.map((l) => String(l.detail).length)), 'jwks fetch failed detail').toBeLessThanOrEqual(BOUND);
    expect(String(line?.detail).length, 'request line detail').toBeLessThanOrEqual(BOUND);
  });

  it('a client jwks_uri host with a certificate for 1500 other addresses: each 503\'s log detail stays short', async () => {
    for (let i = 0; i < 400 && !h.logLines().some((l) => l.msg === 'client jwks fetch failed'); i++) await sleep(5);
    const token = await mtlsToken(h);
    const lengths: number[] = [];
    for (let i = 0; i < 3; i++) {
      const iid = randomUUID();
      const req = await sign({ method: 'GET', path: `/signed/${i}`, headers: [['Authorization', `Bearer ${token}`]] }, k);
      const r = await h.call(req.path, { cert: h.pki.client1, headers: [...req.headers, ['x-fapi-interaction-id', iid]] });
      expect(r.status).toBe(503);
      const line = await logFor(h, iid);
      expect(line?.reason).toBe('GW_CLIENT_JWKS_UNAVAILABLE');
      lengths.push(String(line?.detail).length);
    }
    const fetchLine = h.logLines().find((l) => l.msg === 'client jwks fetch failed');
    // Before the fix: ~20 KB each, on every request until the next fetch.
    expect(String(fetchLine?.detail).length, 'client jwks fetch failed detail').toBeLessThanOrEqual(BOUND);
    expect(Math.max(...lengths), 'request line details').toBeLessThanOrEqual(BOUND);
  });
});
