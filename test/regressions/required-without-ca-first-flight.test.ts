// Found in review (fixed; the test failed before): TLS-9. `tls.client_certificate: required` without a
// `client_ca_file` is enforced after the handshake, by destroying a certificate-less socket; the check
// ran after Node's HTTP listener, so a request sent in the same flight as the handshake was parsed and
// run through the pipeline (token checked, DPoP jti used up) and logged `allow`/`CLIENT_ABORTED` with
// no remote: allowed traffic, in the log, from a client the policy locked out. Now the check runs first
// and the refusal is one `tls handshake refused` line, TLS_CLIENT_CERT_MISSING.
import { connect } from 'node:tls';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt } from '../support/issuer.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let h: Harness;
let upstream: TestUpstream;
const upstreamSaw: string[] = [];
beforeAll(async () => {
  upstream = await startRawUpstream((s: Socket) => {
    s.once('data', () => undefined);
    upstreamSaw.push('request bytes');
    s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
  });
  h = await startHarness({ upstream, patch: (c) => (c.server.tls.client_certificate = 'required') });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await upstream?.close();
});

describe('required client certificate without a CA', () => {
  it('a certificate-less client writing its request with the handshake: never allowed, never forwarded, logged as a refusal', async () => {
    const key = await dpopKey('ES256');
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
    const before = h.logLines().length;
    for (let attempt = 0; attempt < 5; attempt++) {
      const p = await proof(key, { htm: 'POST', htu: `${PUBLIC_ORIGIN}/dpop/pay`, token });
      const req = `POST /dpop/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: DPoP ${token}\r\nDPoP: ${p}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`;
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost' });
        const t = setTimeout(() => (s.destroy(), resolve()), 2000);
        s.on('secureConnect', () => s.write(req));
        s.on('error', () => undefined);
        s.on('close', () => (clearTimeout(t), resolve()));
        s.resume();
      });
    }
    await sleep(500);
    const lines = h.logLines().slice(before);
    // One refusal per connection, whether logged per request (deny) or per connection (a reason, no decision).
    const refusals = lines.filter((l) => l.msg === 'tls handshake refused' && l.reason === 'TLS_CLIENT_CERT_MISSING' && l.remote === '127.0.0.1');
    expect({
      requestLines: lines.filter((l) => l.decision !== undefined).length,
      upstreamSaw: upstreamSaw.length,
      refusals: refusals.length,
    }).toEqual({ requestLines: 0, upstreamSaw: 0, refusals: 5 });
  });
});
