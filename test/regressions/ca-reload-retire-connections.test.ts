// Found in review (fixed; the test failed before): a review of the change 89d1105: retireConnections() in src/listen/api-server.ts, used after a reload
// that changes the client CAs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { createCa } from '../support/pki.js';

let h: Harness;
let token: string;
let caOnly: string;
let caPlusOther: string;
beforeAll(async () => {
  h = await startHarness();
  const other = await createCa('another client root');
  caOnly = join(h.files.dir, 'client-ca-only.pem');
  caPlusOther = join(h.files.dir, 'client-ca-plus-other.pem');
  writeFileSync(caOnly, h.pki.ca.certPem);
  writeFileSync(caPlusOther, h.pki.ca.certPem + other.certPem);
  h.reload((c) => (c.server.tls.client_ca_file = caOnly));
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  // /mtls/slow: the head at once, the body 800 ms later; anything else at once.
  h.upstream.handler = (req, res) => {
    if (req.url?.startsWith('/mtls/slow')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.write('a');
      setTimeout(() => res.end('b'), 800);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url }));
  };
}, 60_000);
afterAll(async () => {
  await h?.close();
});

async function open(): Promise<{ s: TLSSocket; text(): string; closed: Promise<void> }> {
  const s = await new Promise<TLSSocket>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem }, () => resolve(c));
    c.once('error', reject);
  });
  let buf = '';
  s.on('data', (c: Buffer) => (buf += c.toString('latin1')));
  s.on('error', () => undefined);
  return { s, text: () => buf, closed: new Promise<void>((r) => s.once('close', () => r())) };
}

describe('retireConnections with pipelined requests', () => {
  // RFC 9112 §9.3.2/§9.6 and the gateway's own rule (src/gateway.ts inTurn: "nothing is forwarded on a
  // connection an earlier response closes: a pipelined POST must not reach the upstream if it will never
  // be answered"), MTLS-4 reload. The bug was: for a response whose head was already sent, retireConnections
  // (src/listen/api-server.ts:152) adds res.once('finish', () => socket.end()). Node's own 'finish'
  // listener (resOnFinish) runs first and hands the socket to the next pipelined response, whose request
  // the gateway then runs and forwards; only then is the socket ended. The POST reaches the upstream and
  // its answer is written after end (lost): the client never learns whether its payment ran.
  it('a pipelined POST behind a response in progress during a CA reload is either answered or never forwarded', async () => {
    const c = await open();
    const second = `/mtls/second-${Date.now()}`;
    c.s.write(
      `GET /mtls/slow HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n` +
        `POST ${second} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    // The first response's head is out; then the client CAs change.
    for (let i = 0; i < 100 && !c.text().includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
    h.reload((cfg) => (cfg.server.tls.client_ca_file = caPlusOther));
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 3000))]);
    c.s.destroy();
    const responses = (c.text().match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
    const forwarded = h.upstream.received.some((r) => r.url === second);
    h.reload((cfg) => (cfg.server.tls.client_ca_file = caOnly));
    // Forwarded and answered, or neither.
    expect({ forwarded, answered: responses === 2 }).toEqual({ forwarded, answered: forwarded });
  }, 15_000);
});

describe('retireConnections with a request head still arriving', () => {
  // MTLS-4 and the commit's claim (89d1105: "Busy connections now close after their response"). The bug was:
  // a connection whose request head has begun but is not complete is not idle for Node
  // (closeIdleConnections skips it) and has no response yet (socket._httpMessage is null), so
  // retireConnections (src/listen/api-server.ts:149) skips it: it is kept alive after the reload and keeps
  // being judged per request without the client's intermediates (the 401s the change was meant to end).
  it('a connection mid-head during a CA reload closes after its response', async () => {
    const c = await open();
    c.s.write(`GET /mtls/mid-head HTTP/1.1\r\nHost: api.test\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    h.reload((cfg) => (cfg.server.tls.client_ca_file = caPlusOther));
    c.s.write(`Authorization: Bearer ${token}\r\n\r\n`);
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 1500))]);
    const stillOpen = !c.s.destroyed && c.s.readyState === 'open';
    c.s.destroy();
    h.reload((cfg) => (cfg.server.tls.client_ca_file = caOnly));
    expect({ status: c.text().slice(9, 12), connectionClose: /\r\nconnection: close\r\n/i.test(c.text()), stillOpen }).toEqual({ status: '200', connectionClose: true, stillOpen: false });
  }, 15_000);
});
