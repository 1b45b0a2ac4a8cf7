// MTLS-4 / TLS-8 / TLS-12 (found in review; each failed on the code before): the trust a connection's
// client certificate earned at its handshake must not outlive what it rests on. A TLS 1.2 client could
// renegotiate to another certificate (or none) while Node kept `authorized`; a keep-alive connection
// kept the trust of a client CA a reload had removed; a resumed TLS session kept its verdict after the
// certificate expired.
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { createCa, issueClientCert } from '../support/pki.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.server.tls.client_ca_file = c.issuers.main.ca_file) });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const client1 = (extra: object = {}): TLSSocket =>
  connect({ host: '127.0.0.1', port: h.port, servername: 'localhost', ca: h.pki.ca.certPem, cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, ...extra });

describe('TLS-8: no renegotiation', () => {
  it('a TLS 1.2 client asking to renegotiate is refused (it could otherwise present another certificate)', async () => {
    const sock = client1({ maxVersion: 'TLSv1.2' });
    sock.on('error', () => undefined);
    try {
      await new Promise<void>((r, j) => (sock.once('secureConnect', () => r()), sock.once('error', j)));
      // Node reports a completed renegotiation with no error; refused, it errors or never completes.
      const outcome = await new Promise<string>((r) => {
        const started = sock.renegotiate({ rejectUnauthorized: false }, (e) => r(e === null ? 'renegotiated' : 'refused'));
        if (!started) r('refused');
        setTimeout(() => r('no renegotiation'), 2000);
      });
      expect(outcome).not.toBe('renegotiated');
    } finally {
      sock.destroy();
    }
  });
});

describe('MTLS-4: connections and a reload that replaces client_ca_file', () => {
  let otherCaFile: string;
  beforeAll(async () => {
    otherCaFile = join(h.files.dir, 'other-ca.pem');
    writeFileSync(otherCaFile, (await createCa('other client CA')).certPem);
  });

  it('an idle keep-alive connection verified under the old CAs is closed (its client reconnects and is verified again)', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const sock = client1();
    await new Promise<void>((r, j) => (sock.once('secureConnect', () => r()), sock.once('error', j)));
    const closed = new Promise<boolean>((r) => {
      sock.once('close', () => r(true));
      setTimeout(() => r(false), 2000);
    });
    let buf = '';
    sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    try {
      sock.write(`GET /mtls/one HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      for (let i = 0; i < 300 && !buf.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(buf.slice(9, 12)).toBe('200');
      h.reload((c) => (c.server.tls.client_ca_file = otherCaFile));
      expect(await closed).toBe(true);
      const fresh = await request(h.url('/mtls/x'), { ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, headers: [['Authorization', `Bearer ${token}`]] });
      expect(fresh.status).toBe(401);
    } finally {
      sock.destroy();
      h.reload();
    }
  });

  it('TCP accepted before the reload, TLS handshake after it (verified under the old CAs) -> 401, not forwarded', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const raw = netConnect({ host: '127.0.0.1', port: h.port });
    await new Promise<void>((r, j) => (raw.once('connect', () => r()), raw.once('error', j)));
    // Let the server accept it: Node builds the TLS socket with the secure context of that moment.
    await new Promise((r) => setTimeout(r, 100));
    let sock: TLSSocket | undefined;
    try {
      h.reload((c) => (c.server.tls.client_ca_file = otherCaFile));
      sock = connect({ socket: raw, servername: 'localhost', ca: h.pki.ca.certPem, cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
      await new Promise<void>((r, j) => (sock!.once('secureConnect', () => r()), sock!.once('error', j)));
      let buf = '';
      sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
      const before = h.upstream.received.length;
      sock.write(`GET /mtls/race HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      for (let i = 0; i < 300 && !buf.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
      expect({ status: buf.slice(9, 12), forwarded: h.upstream.received.slice(before).map((r) => r.url) }).toEqual({ status: '401', forwarded: [] });
    } finally {
      sock?.destroy();
      raw.destroy();
      h.reload();
    }
  }, 20_000);
});

describe('MTLS-4 / TLS-12: a resumed TLS session', () => {
  it('TLS 1.3: a session from a certificate that has since expired, resumed -> 401', async () => {
    const now = Date.now();
    const short = await issueClientCert(h.pki.ca, 'short-lived', { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_000) });
    const thumb = createHash('sha256').update(new X509Certificate(short.certPem).raw).digest('base64url');
    const token = await h.issuer.mint({ cnf: cnfX5t(thumb) });
    const headers: [string, string][] = [['Authorization', `Bearer ${token}`]];
    const first = await h.call('/mtls/a', { cert: short, headers });
    expect(first.status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_500));
    // A full handshake with the expired certificate is refused by policy ...
    expect((await h.call('/mtls/b', { cert: short, headers })).status).toBe(401);
    // ... and so is the resumed session that verified it while it was valid.
    const resumed = await h.call('/mtls/c', { cert: short, session: first.session!, headers });
    expect({ status: resumed.status, reused: resumed.sessionReused }).toEqual({ status: 401, reused: true });
  }, 20_000);
});
