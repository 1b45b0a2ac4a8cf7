// Found in review (fixed; the test failed before): TLS-9 / MTLS-4, every refusal logged once with a
// reason. With `tls.client_certificate: required`, a client without a certificate, or with one that
// does not chain to the client CAs, was refused at the handshake with no log line and no count: a TPP
// told "your gateway drops us" could not be found, nor a CA-bundle mistake that locks everyone out.
// Now one `tls handshake refused` line each (reason, remote, OpenSSL's or the verifier's code) and
// fapi_gateway_tls_handshake_refusals_total{reason}; a TCP connect-and-close (health checks) is silent.
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import type { Pem } from '../support/pki.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.tls.client_ca_file = c.issuers.main.ca_file;
      c.server.tls.client_certificate = 'required';
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** A TLS connection that the server refuses; resolves when it is closed or errored (bounded). */
function refusedHandshake(g: Harness, cert?: Pem): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({
      host: '127.0.0.1',
      port: g.port,
      ca: g.pki.ca.certPem,
      servername: 'localhost',
      ...(cert !== undefined && { cert: cert.certPem, key: cert.keyPem }),
    });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 3000);
    s.on('error', (e) => {
      clearTimeout(t);
      resolve(String((e as Error).message));
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
    // TLS 1.3: the client learns of the refusal only when it reads; write a request to provoke it.
    s.on('secureConnect', () => s.write('GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\n\r\n'));
  });
}

async function newLines(g: Harness, before: number): Promise<Record<string, any>[]> {
  await sleep(300);
  return g.logLines().slice(before);
}

describe('refusals at the TLS handshake leave a trace', () => {
  it('client_certificate: required with a CA: an untrusted (self-signed) certificate and no certificate -> one log line each, with a reason', async () => {
    const before = h.logLines().length;
    await refusedHandshake(h, h.pki.selfSigned);
    await refusedHandshake(h);
    const lines = await newLines(h, before);
    const refusals = lines.filter((l) => l.msg === 'tls handshake refused');
    expect(refusals.map((l) => [l.reason, l.detail, l.remote])).toEqual([
      ['TLS_CLIENT_CERT_UNTRUSTED', 'DEPTH_ZERO_SELF_SIGNED_CERT', '127.0.0.1'],
      ['TLS_CLIENT_CERT_MISSING', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', '127.0.0.1'],
    ]);
    const metrics = await (await fetch(`${h.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/fapi_gateway_tls_handshake_refusals_total\{reason="TLS_CLIENT_CERT_UNTRUSTED"\} 1/);
    expect(metrics).toMatch(/fapi_gateway_tls_handshake_refusals_total\{reason="TLS_CLIENT_CERT_MISSING"\} 1/);
  });

  it('plain HTTP on the TLS port is a protocol refusal; a TCP connect-and-close says nothing', async () => {
    const before = h.logLines().length;
    for (const payload of ['GET / HTTP/1.1\r\nHost: api.test\r\n\r\n', '']) {
      await new Promise<void>((resolve) => {
        const s = tcpConnect(h.port, '127.0.0.1', () => (payload === '' ? s.end() : s.write(payload)));
        const t = setTimeout(() => (s.destroy(), resolve()), 2000);
        s.on('error', () => undefined).on('close', () => (clearTimeout(t), resolve()));
        s.resume();
      });
    }
    const refusals = (await newLines(h, before)).filter((l) => l.msg === 'tls handshake refused');
    expect(refusals.map((l) => l.reason)).toEqual(['TLS_PROTOCOL']);
    expect(refusals[0]?.detail).toBe('ERR_SSL_HTTP_REQUEST');
  });
});
