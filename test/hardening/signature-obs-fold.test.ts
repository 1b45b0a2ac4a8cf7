// Pin (from a review of HTTP signatures, passing): RFC 9421 §2.1 step 3 says obsolete line folding in a covered field is
// replaced by one space. The gateway never builds such a base: Node's strict parser refuses obs-fold
// (RFC 9112 §5.2 allows a 400), before any route, so a folded value can neither be signed over nor reach
// the upstream. This breaks if the listener ever turns on insecureHTTPParser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { edKey, mtlsToken, signedHarness, type ClientKey } from '../support/http-sig.js';

const ck: ClientKey = edKey('c1');
let h: Harness;
beforeAll(async () => {
  h = await signedHarness([{ id: 'signed', match: { methods: ['GET'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [ck]);
});
afterAll(async () => h?.close());

describe('obs-fold in a field a signature covers', () => {
  it('is refused with 400 by the listener and never forwarded', async () => {
    const before = h.upstream.received.length;
    const token = await mtlsToken(h);
    const { response } = await h.raw(
      `GET /signed/x HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${token}\r\nX-Covered: a\r\n  b\r\n` +
        `Signature-Input: sig1=("@method" "@target-uri" "authorization" "x-covered");created=1;keyid="c1";tag="fapi-2-request"\r\nSignature: sig1=:AAAA:\r\nConnection: close\r\n\r\n`,
    );
    expect(response.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect(h.upstream.received.length).toBe(before);
  });
});
