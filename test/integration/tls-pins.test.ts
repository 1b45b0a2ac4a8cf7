// Passing pins (no defect found) for behaviour no other test covers: the TLS handshake deadline is a
// total deadline (a client dripping its ClientHello cannot hold a connection open), and a scan of every
// TLS 1.2 suite this OpenSSL knows accepts only the BCP195 ones (TLS-4, TLS-5, TLS-7).
import { execFile, execFileSync } from 'node:child_process';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.server.limits = { handshake_timeout_ms: 1000 }) });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** A real ClientHello, captured from Node's TLS client. */
function clientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = createServer((s) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        srv.close();
      }),
    );
    srv.listen(0, '127.0.0.1', () => {
      const c = connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
  });
}

describe('limits.handshake_timeout_ms', () => {
  it('is a deadline: a ClientHello dripped one byte per 300 ms is cut at ~1 s and logged TLS_HANDSHAKE_TIMEOUT', async () => {
    const hello = await clientHello();
    const t0 = Date.now();
    const s = netConnect({ host: '127.0.0.1', port: h.port });
    s.on('error', () => undefined);
    let closedAfter = -1;
    s.on('close', () => (closedAfter = Date.now() - t0));
    for (let i = 0; i < 15 && closedAfter < 0; i++) {
      s.write(hello.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 300));
    }
    s.destroy();
    expect(closedAfter).toBeGreaterThan(800);
    expect(closedAfter).toBeLessThan(2000);
    expect(h.logLines().some((l) => l.reason === 'TLS_HANDSHAKE_TIMEOUT')).toBe(true);
  }, 20_000);
});

describe('TLS-4 / TLS-5 / TLS-7: every TLS 1.2 suite OpenSSL knows, one at a time', () => {
  it('only ECDHE-RSA-AES128-GCM-SHA256 and ECDHE-RSA-AES256-GCM-SHA384 complete (RSA server certificate)', async () => {
    const all = execFileSync('openssl', ['ciphers', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0']).toString().trim().split(':');
    const accepted: string[] = [];
    for (const c of all) {
      const ok = await new Promise<boolean>((resolve) => {
        const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${h.port}`, '-servername', 'localhost', '-tls1_2', '-cipher', `${c}:@SECLEVEL=0`], { timeout: 10_000 }, (_e, out) =>
          resolve(/Cipher is (?!\(NONE\))/.test(out)),
        );
        child.stdin?.end();
      });
      if (ok) accepted.push(c);
    }
    expect(accepted.sort()).toEqual(['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384']);
  }, 120_000);
});
