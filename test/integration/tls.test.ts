// TLS transport (TLS-1..TLS-5, TLS-8, TLS-9, TLS-12) against the real API listener. Every "refused" probe
// is paired with a control server that accepts the same offer, so a failure means the gateway refused it,
// not that this client or OpenSSL could not make the offer.
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsProbe, type TlsClientOpts } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import type { Pem } from '../support/pki.js';

let h: Harness;
/** A deliberately permissive TLS server (TLS 1.0+, every cipher): proves each offer can be made. */
let control: TlsServer;
let controlPort: number;

beforeAll(async () => {
  h = await startHarness();
  control = createTlsServer({
    cert: h.pki.server.certPem,
    key: h.pki.server.keyPem,
    minVersion: 'TLSv1',
    ciphers: 'ALL:@SECLEVEL=0',
    dhparam: 'auto',
  });
  control.on('secureConnection', (s) => s.end());
  control.on('tlsClientError', () => {});
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  controlPort = (control.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => control?.close(() => r()));
  await h?.close();
});

const base = (): TlsClientOpts => ({ ca: h.pki.ca.certPem, servername: 'localhost' });
const probeGateway = (o: Partial<TlsClientOpts>) => tlsProbe('127.0.0.1', h.port, { ...base(), ...o });
const probeControl = (o: Partial<TlsClientOpts>) => tlsProbe('127.0.0.1', controlPort, { ...base(), ...o });
const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

/** `openssl s_client` handshake attempt; resolves true if a cipher was negotiated. */
function opensslHandshake(port: number, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args],
      { timeout: 10_000 },
      (_err, stdout) => resolve(/Cipher is (?!\(NONE\))/.test(stdout) && !/Cipher is \(NONE\)/.test(stdout)),
    );
    child.stdin?.end();
  });
}

describe('TLS-2: TLS 1.0 and 1.1 are refused', () => {
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    it(`CONF-3 / TLS-2: a handshake pinned to ${v} fails`, async () => {
      const offer = { minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' };
      const ctl = await probeControl(offer);
      if (ctl.ok) {
        expect(ctl.protocol).toBe(v);
        const r = await probeGateway(offer);
        expect(r.ok).toBe(false);
      } else {
        // This Node/OpenSSL cannot even offer the version: fall back to the openssl CLI, again with a control.
        const flag = v === 'TLSv1' ? '-tls1' : '-tls1_1';
        const args = [flag, '-cipher', 'DEFAULT@SECLEVEL=0'];
        expect(await opensslHandshake(controlPort, args), `control must accept ${v} via openssl`).toBe(true);
        expect(await opensslHandshake(h.port, args)).toBe(false);
      }
    });
  }
  it('TLS-2: control: a handshake pinned to TLS 1.2 succeeds', async () => {
    const r = await probeGateway({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    expect(r).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
  });
});

describe('TLS-3: TLS 1.3 is preferred', () => {
  it('CONF-3 / TLS-3: a client offering TLS 1.2 and 1.3 negotiates TLSv1.3', async () => {
    const r = await probeGateway({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(r).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });
  it('TLS-3: an ordinary HTTPS request runs over TLSv1.3', async () => {
    const r = await h.call('/accounts/1');
    expect(r.tlsProtocol).toBe('TLSv1.3');
  });
});

describe('TLS-4 / TLS-5: TLS 1.2 cipher suites', () => {
  const tls12 = (ciphers: string) => ({ minVersion: 'TLSv1.2' as const, maxVersion: 'TLSv1.2' as const, ciphers });
  for (const [cipher, why] of [
    ['ECDHE-RSA-AES128-SHA256', 'CBC'],
    ['ECDHE-RSA-AES256-SHA384', 'CBC'],
    ['ECDHE-RSA-AES128-SHA', 'CBC / SHA-1'],
    ['AES128-GCM-SHA256', 'RSA key exchange'],
    ['AES256-GCM-SHA384', 'RSA key exchange'],
    ['ECDHE-RSA-CHACHA20-POLY1305', 'not in the BCP195 recommended list (TLS-4)'],
  ] as const) {
    it(`CONF-3 / TLS-4: TLS 1.2 offering only ${cipher} (${why}) fails`, async () => {
      const ctl = await probeControl(tls12(cipher));
      expect(ctl, 'control accepts the offer').toMatchObject({ ok: true, cipher });
      expect((await probeGateway(tls12(cipher))).ok).toBe(false);
    });
  }
  for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384']) {
    it(`CONF-3 / TLS-4: TLS 1.2 with ${cipher} succeeds`, async () => {
      expect(await probeGateway(tls12(cipher))).toMatchObject({ ok: true, protocol: 'TLSv1.2', cipher });
    });
  }
  it('TLS-4: offered a mix, the gateway picks a recommended AEAD suite', async () => {
    const r = await probeGateway(tls12('AES128-SHA:ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'));
    expect(r).toMatchObject({ ok: true, cipher: 'ECDHE-RSA-AES256-GCM-SHA384' });
  });
  it('CONF-3 / TLS-5: DHE-RSA-AES128-GCM-SHA256 is refused with the default fapi2 profile', async () => {
    for (const cipher of ['DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384']) {
      expect(await probeControl(tls12(cipher)), 'control accepts DHE').toMatchObject({ ok: true, cipher });
      expect((await probeGateway(tls12(cipher))).ok).toBe(false);
    }
  });
  it('TLS-5 / Q-7: control: the fapi1 profile does accept DHE-RSA-AES128-GCM-SHA256', async () => {
    const g = await startHarness({ patch: (c) => (c.server.tls.profile = 'fapi1') });
    try {
      const r = await tlsProbe('127.0.0.1', g.port, { ...base(), ...tls12('DHE-RSA-AES128-GCM-SHA256') });
      expect(r).toMatchObject({ ok: true, cipher: 'DHE-RSA-AES128-GCM-SHA256' });
    } finally {
      await g.close();
    }
  });
});

describe('TLS-1: no plaintext API', () => {
  it('TLS-1: a plain-HTTP request to the API port gets no HTTP response, never a 200', async () => {
    const before = h.upstream.received.length;
    const { data, closed } = await new Promise<{ data: string; closed: boolean }>((resolve) => {
      const chunks: Buffer[] = [];
      const s = netConnect(h.port, '127.0.0.1', () => s.write('GET /open/x HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n'));
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: false });
      }, 3000);
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: true });
      });
    });
    expect(closed).toBe(true);
    expect(data).not.toMatch(/^HTTP\/1\.[01] 2/);
    expect(data).not.toContain('"ok":true');
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('TLS-8 / TLS-9: a client certificate is requested, not required', () => {
  it('TLS-9: a handshake without a client certificate completes', async () => {
    expect(await probeGateway({})).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });
  it('TLS-9: a request without a certificate gets a normal 401, not a handshake failure', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const before = h.upstream.received.length;
    const r = await h.call('/mtls/x', { headers: [bearer(token)] });
    expect(r.status).toBe(401);
    expect(r.json().error).toBe('invalid_token');
    expect(h.upstream.received.length).toBe(before);
    // And a route without binding is served without a certificate.
    expect((await h.call('/open/x', { headers: [bearer(await h.issuer.mint())] })).status).toBe(200);
  });
  it('TLS-8: a certificate sent at the handshake is seen by the HTTP layer', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    expect((await h.call('/mtls/x', { cert: h.pki.client1, headers: [bearer(token)] })).status).toBe(200);
  });
});

describe('TLS-12: session resumption keeps (and never invents) the client certificate', () => {
  it('TLS-12 (TLS 1.3): a session established with client1, resumed -> sessionReused and 200', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await h.call('/mtls/first', { cert: h.pki.client1, headers: [bearer(token)] });
    expect(first.status).toBe(200);
    expect(first.tlsProtocol).toBe('TLSv1.3');
    expect(first.session).toBeDefined();
    const before = h.upstream.received.length;
    const second = await h.call('/mtls/resumed', { cert: h.pki.client1, session: first.session!, headers: [bearer(token)] });
    expect(second.sessionReused).toBe(true);
    expect(second.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    expect(h.upstream.received.at(-1)!.headers['x-authenticated-key-thumbprint']).toBe(h.pki.client1.x5tS256);
  });
  it('TLS-12 (TLS 1.3): resumed without presenting the certificate again, the session\'s certificate still binds', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await h.call('/mtls/first', { cert: h.pki.client1, headers: [bearer(token)] });
    const second = await h.call('/mtls/resumed', { session: first.session!, headers: [bearer(token)] });
    expect(second.sessionReused).toBe(true);
    expect(second.status).toBe(200);
  });
  it('TLS-12 (TLS 1.3): a session established WITHOUT a certificate, resumed -> 401 invalid_token for a bound token', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await h.call('/open/x', { headers: [bearer(await h.issuer.mint())] });
    expect(first.status).toBe(200);
    const before = h.upstream.received.length;
    const second = await h.call('/mtls/x', { session: first.session!, headers: [bearer(token)] });
    expect(second.sessionReused).toBe(true);
    expect(second.status).toBe(401);
    expect(second.json().error).toBe('invalid_token');
    // Offering client1's certificate on the resumed connection does not add it to the session.
    const third = await h.call('/mtls/x', { cert: h.pki.client1, session: first.session!, headers: [bearer(token)] });
    expect(third.sessionReused).toBe(true);
    expect(third.status).toBe(401);
    expect(h.upstream.received.length).toBe(before);
  });
  it('TLS-12 (TLS 1.3): a session established with client2, resumed with a client1-bound token -> 401', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await h.call('/open/x', { cert: h.pki.client2, headers: [bearer(await h.issuer.mint())] });
    const before = h.upstream.received.length;
    const second = await h.call('/mtls/x', { cert: h.pki.client1, session: first.session!, headers: [bearer(token)] });
    expect(second.sessionReused).toBe(true);
    expect(second.status).toBe(401);
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('TLS-12 over TLS 1.2 (session tickets)', () => {
  /** A request pinned to TLS 1.2 (the harness client has no version option). */
  function call12(path: string, o: { cert?: Pem; session?: Buffer; token: string }): Promise<{ status: number; body: string; session?: Buffer; reused: boolean; protocol: string | null }> {
    return new Promise((resolve, reject) => {
      let session: Buffer | undefined;
      const req = httpsRequest(h.url(path), {
        ca: h.pki.ca.certPem,
        servername: 'localhost',
        maxVersion: 'TLSv1.2',
        agent: false,
        headers: { authorization: `Bearer ${o.token}` },
        ...(o.session !== undefined && { session: o.session }),
        ...(o.cert !== undefined && { cert: o.cert.certPem, key: o.cert.keyPem }),
      });
      req.on('socket', (s) => s.on('session', (b: Buffer) => (session = b)));
      req.on('error', reject);
      req.on('response', (res) => {
        const tls = res.socket as TLSSocket;
        const reused = tls.isSessionReused();
        const protocol = tls.getProtocol();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), session: session ?? tls.getSession?.(), reused, protocol }));
      });
      req.end();
    });
  }

  it('TLS-12 (TLS 1.2): a session established with client1, resumed -> sessionReused and 200', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await call12('/mtls/first12', { cert: h.pki.client1, token });
    expect(first).toMatchObject({ status: 200, protocol: 'TLSv1.2', reused: false });
    expect(first.session).toBeDefined();
    const second = await call12('/mtls/resumed12', { session: first.session!, token });
    expect(second).toMatchObject({ status: 200, protocol: 'TLSv1.2', reused: true });
  });
  it('TLS-12 (TLS 1.2): a session established WITHOUT a certificate, resumed -> 401 invalid_token for a bound token', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const first = await call12('/open/x', { token: await h.issuer.mint() });
    expect(first.status).toBe(200);
    const before = h.upstream.received.length;
    for (const cert of [undefined, h.pki.client1]) {
      const second = await call12('/mtls/x', { session: first.session!, token, ...(cert && { cert }) });
      expect(second).toMatchObject({ status: 401, reused: true });
      expect(JSON.parse(second.body).error).toBe('invalid_token');
    }
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('tls.client_certificate: required', () => {
  let g: Harness;
  beforeAll(async () => {
    g = await startHarness({ patch: (c) => (c.server.tls.client_certificate = 'required') });
  });
  afterAll(async () => {
    await g?.close();
  });
  it('a connection without a client certificate gets no HTTP response', async () => {
    const before = g.upstream.received.length;
    const token = await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) });
    await expect(g.call('/mtls/x', { headers: [bearer(token)] })).rejects.toThrow();
    await expect(g.call('/open/x', { headers: [bearer(await g.issuer.mint())] })).rejects.toThrow();
    expect(g.upstream.received.length).toBe(before);
  });
  it('control: with the certificate the same request gets 200', async () => {
    const token = await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) });
    expect((await g.call('/mtls/x', { cert: g.pki.client1, headers: [bearer(token)] })).status).toBe(200);
  });
});

describe('TLS-9 / MTLS-4: tls.client_certificate changed by a config reload applies to new connections', () => {
  const status = (p: Promise<{ status: number }>): Promise<number | string> => p.then((r) => r.status, (e: Error & { code?: string }) => `refused: ${e.code ?? e.message}`);
  it('required with a CA -> optional: a client without a certificate completes the handshake (401, not a TLS alert)', async () => {
    const h = await startHarness({ patch: (c) => ((c.server.tls.client_certificate = 'required'), (c.server.tls.client_ca_file = c.issuers.main.ca_file)) });
    try {
      expect(await status(h.call('/accounts/1'))).toMatch(/^refused/);
      h.reload((c) => ((c.server.tls.client_certificate = 'optional'), (c.server.tls.client_ca_file = c.issuers.main.ca_file)));
      expect(await status(h.call('/accounts/1'))).toBe(401);
    } finally {
      await h.close();
    }
  });
  it('optional -> required (with or without a CA): a client without a certificate gets no HTTP response; with one, 200', async () => {
    const h = await startHarness();
    try {
      const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
      expect(await status(h.call('/accounts/1'))).toBe(401);
      h.reload((c) => (c.server.tls.client_certificate = 'required'));
      expect(await status(h.call('/accounts/1'))).toMatch(/^refused/);
      h.reload((c) => ((c.server.tls.client_certificate = 'required'), (c.server.tls.client_ca_file = c.issuers.main.ca_file)));
      expect(await status(h.call('/accounts/1'))).toMatch(/^refused/);
      expect((await h.call('/mtls/x', { cert: h.pki.client1, headers: [bearer(token)] })).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});
