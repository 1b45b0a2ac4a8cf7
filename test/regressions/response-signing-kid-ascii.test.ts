// Found in review (fixed; the test failed before): `http_signatures.response_signing.keys[].kid` is any
// non-empty string, but the kid goes into Signature-Input as an RFC 8941 String (`keyid="..."`), which
// can hold only printable ASCII. A kid such as `gw-é` (or one with a control character) is accepted by
// the config and the start, published in the JWKS, and then every response of every sign_responses route
// is a 502 ("signed response head refused: Only ASCII strings may be serialized") after the upstream
// already acted on the request. It should be refused with the config (as a bad jwks_path is).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

let key: SigningKeyFile;
beforeAll(() => {
  key = keyFile('ec');
});
afterAll(() => key.cleanup());

describe('response_signing kid outside RFC 8941 String characters', () => {
  it('is refused with the config, not accepted and then failing every signed response', async () => {
    let h: Harness | undefined;
    let started: unknown;
    try {
      h = await signingHarness([{ id: 'out', match: { methods: ['POST'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key, { kid: 'gw-é', alg: 'ES256' });
    } catch (e) {
      started = e;
    }
    if (h === undefined) {
      expect(String(started)).toMatch(/kid/);
      return;
    }
    try {
      const before = h.upstream.received.length;
      const r = await h.call('/out/pay', { method: 'POST', cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`]], body: '{"amount":"1.00"}' });
      // The upstream ran the payment...
      expect(h.upstream.received.length).toBe(before + 1);
      // ...and the client got a 502 (fails here: the config should never have been accepted).
      expect(r.status, `started with kid "gw-é"; the forwarded POST was answered ${r.status}`).toBe(200);
    } finally {
      await h.close();
    }
  });
});
