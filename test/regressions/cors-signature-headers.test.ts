// Found in review (fixed; the test failed before): on a route with both `cors` and `sign_responses`, the
// gateway adds Signature, Signature-Input and Content-Digest to every response, but its
// Access-Control-Expose-Headers lists only www-authenticate, dpop-nonce, x-fapi-interaction-id and
// retry-after (plus `cors.exposed_headers`). Those three are not CORS-safelisted response headers, so a
// browser client's script cannot read the signature it must verify (FAPI2-HTTPSIG §5.3.2.2: the client
// "shall verify" the response signature). The gateway exposes the other headers it owns (dpop-nonce,
// the interaction id) by itself; the signature headers it owns on these routes are not, and the README
// does not tell operators to add them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

const ORIGIN = 'https://tpp.example';
let h: Harness;
let key: SigningKeyFile;
beforeAll(async () => {
  key = keyFile();
  h = await signingHarness([{ id: 'out', match: { methods: ['GET'], path_prefix: '/out' }, auth: { binding: 'mtls' }, cors: { allowed_origins: [ORIGIN] } }], key);
});
afterAll(async () => {
  await h?.close();
  key.cleanup();
});

describe('HDR-15 + SIG-8: a browser client can read the response signature', () => {
  it('Access-Control-Expose-Headers lists signature, signature-input and content-digest on a signed route', async () => {
    const r = await h.call('/out/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`], ['Origin', ORIGIN]] });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(r.headers.signature).toBeDefined();
    const exposed = String(r.headers['access-control-expose-headers']).split(/\s*,\s*/);
    // Fails: ['www-authenticate', 'dpop-nonce', 'x-fapi-interaction-id', 'retry-after'].
    expect(exposed).toEqual(expect.arrayContaining(['signature', 'signature-input', 'content-digest']));
  });
});
