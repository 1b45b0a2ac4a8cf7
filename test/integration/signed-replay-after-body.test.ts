// DPOP-21 comes last, after SIG-6 (the body's digest): on a signed route a replayed DPoP proof with
// `Expect: 100-continue` gets its 100, uploads its body, and only then the 401 GW_DPOP_REPLAY. Every
// other refusal is judged on the head (README "Signed requests").
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import type { Harness } from '../support/gateway.js';
import { digest, edKey, PUBLIC_ORIGIN, sign, signedHarness, type ClientKey } from '../support/http-sig.js';
import { cnfJkt } from '../support/issuer.js';

let h: Harness;
let k: ClientKey;
let dk: DpopKey;
beforeAll(async () => {
  k = edKey('k1');
  dk = await dpopKey();
  h = await signedHarness([{ id: 'pay', match: { methods: ['POST'], path: '/pay' }, auth: { binding: 'dpop', signed_requests: true } }], [k]);
});
afterAll(async () => {
  await h?.close();
});

/** Sends the head with Expect: 100-continue; the body only once a 100 came. What came back. */
function expectContinue(head: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    let sent = false;
    const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost' }, () => s.write(head));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (!sent && got.startsWith('HTTP/1.1 100')) {
        sent = true;
        s.write(body);
      }
      // A final status: give its body a moment, then stop.
      if (/HTTP\/1\.1 [2-5]\d\d /.test(got)) setTimeout(() => s.destroy(), 150);
    });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('a replayed DPoP proof on a signed route', () => {
  it('gets 100 Continue, sends its body, then 401 GW_DPOP_REPLAY', async () => {
    const body = Buffer.from('{"amount":"1.00"}');
    const token = await h.issuer.mint({ cnf: cnfJkt(dk.jkt) });
    const p = await proof(dk, { htm: 'POST', htu: `${PUBLIC_ORIGIN}/pay`, token });
    const req = await sign(
      { method: 'POST', path: '/pay', headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], ['Content-Digest', digest(body)]], body },
      k,
    );
    const head = (): string =>
      `POST /pay HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${req.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`;
    const first = await expectContinue(head(), body);
    expect(first).toMatch(/HTTP\/1\.1 200 /);
    const replay = await expectContinue(head(), body);
    // The replay is refused only after the body was asked for and read.
    expect(replay.startsWith('HTTP/1.1 100 Continue')).toBe(true);
    expect(replay).toMatch(/HTTP\/1\.1 401 [^]*invalid_dpop_proof/);
  });
});
