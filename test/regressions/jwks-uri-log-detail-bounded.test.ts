// Found in review (fixed; the test failed before): review of the outbound fixes (c63a2ae "bounded details"): the fix cuts the metadata `issuer` (100) and the
// socket error's message (300) in outbound failures, but src/token/http-client.ts:107 still prefixes
// every failure with `u.origin`, uncut. For an issuer whose jwks_uri is discovered, that origin comes
// from the metadata document, exactly like the `issuer` member the fix bounded: a jwks_uri with a
// 200 KB host puts 200 KB into the `jwks fetch failed` line (src/token/issuer-keys.ts:218, main.ts:154)
// and into the `detail` of the request that waited on that fetch. Same threat as the one fixed (the
// metadata answer is remote text): lines are written synchronously and a burst of long ones fills the
// log pipeline. (Introspection is not affected: introspection.ts:80 cuts its whole detail at 300.)
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';

const BOUND = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('log details from a discovered jwks_uri are bounded', () => {
  let issuer: TestIssuer;
  let h: Harness;
  let metaIssuer = '';
  // RFC 8414 metadata whose issuer matches, with a jwks_uri on a 200 KB host name (it never resolves).
  const meta = createServer({}, (_q, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: metaIssuer, jwks_uri: `https://${'a'.repeat(200_000)}.invalid/jwks` }));
  });

  beforeAll(async () => {
    const pki = await testPki();
    issuer = await startIssuer({ pki });
    meta.setSecureContext({ cert: pki.server.certPem, key: pki.server.keyPem });
    await new Promise<void>((r) => meta.listen(0, '127.0.0.1', r));
    metaIssuer = `https://127.0.0.1:${(meta.address() as AddressInfo).port}`;
    h = await startHarness({
      issuer,
      routes: [{ id: 'm', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls', issuers: ['meta'] } }],
      patch: (c) => {
        c.issuers.meta = { issuer: metaIssuer, ca_file: c.issuers.main.ca_file, jwks_refetch_cooldown_s: 1 };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
    meta.closeAllConnections();
    meta.close();
  });

  it('a metadata jwks_uri with a 200 KB host: the fetch-failed line and the request line stay short', async () => {
    for (let i = 0; i < 400 && !h.logLines().some((l) => l.msg === 'jwks fetch failed' && l.issuer === 'meta'); i++) await sleep(5);
    await sleep(1100); // past the first-fetch back-off (min(cooldown, 5 s) = 1 s): the request makes the fetch and waits on it
    const iid = randomUUID();
    const token = await issuer.mint({ iss: metaIssuer, cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
    expect(r.status).toBe(503);
    const line = await logFor(h, iid);
    expect(line?.reason).toBe('GW_JWKS_UNAVAILABLE');
    const fetchLines = h.logLines().filter((l) => l.msg === 'jwks fetch failed' && l.issuer === 'meta');
    expect(fetchLines.length).toBeGreaterThan(0);
    // Now: ~200 KB each (the origin of the discovered jwks_uri, uncut).
    expect.soft(Math.max(...fetchLines.map((l) => String(l.detail).length)), 'jwks fetch failed detail').toBeLessThanOrEqual(BOUND);
    expect.soft(String(line?.detail).length, 'request line detail').toBeLessThanOrEqual(BOUND);
  });
});
