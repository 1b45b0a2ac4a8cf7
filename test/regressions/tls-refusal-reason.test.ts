// Found in review (fixed; the test failed before): TLS-9 refusal reasons. tlsReasonFor matched
// /SIGNATURE/ as an untrusted certificate before the protocol patterns and knew no KEY_SHARE: a client
// sending no certificate but offering only ECDSA signature algorithms (RSA server key) was logged
// TLS_CLIENT_CERT_UNTRUSTED, sending the operator to the CA bundle; an unacceptable key-share group was
// TLS_HANDSHAKE_FAILED. Both are TLS_PROTOCOL.
import { connect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function handshake(o: Partial<ConnectionOptions>): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', ...o } as ConnectionOptions);
    const t = setTimeout(() => (s.destroy(), resolve()), 3000);
    s.on('error', () => (clearTimeout(t), resolve()));
    s.on('secureConnect', () => (clearTimeout(t), s.destroy(), resolve()));
  });
}

describe('TLS refusal reasons', () => {
  it('no shared signature algorithm or key-share group (no client certificate sent) -> TLS_PROTOCOL', async () => {
    const got: unknown[] = [];
    for (const o of [{ sigalgs: 'ecdsa_secp256r1_sha256' }, { ecdhCurve: 'P-521' }]) {
      const before = h.logLines().length;
      await handshake(o);
      await sleep(200);
      got.push(...h.logLines().slice(before).filter((l) => l.msg === 'tls handshake refused').map((l) => [l.reason, l.detail]));
    }
    expect(got).toEqual([
      ['TLS_PROTOCOL', 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM'],
      ['TLS_PROTOCOL', 'ERR_SSL_NO_SUITABLE_KEY_SHARE'],
    ]);
  });
});
