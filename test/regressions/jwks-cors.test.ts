// Found in review (fixed; the test failed before): a browser client on a route with `cors` and
// `sign_responses` can now read the response signature (Access-Control-Expose-Headers lists signature,
// signature-input, content-digest: fixed in 736ee3d), but it cannot fetch the keys to verify it with.
// The JWKS at response_signing.jwks_path is answered before routing (gateway.ts serveMetadata
// 'SIGNING_KEYS') without any Access-Control-* header, so a script's fetch() of the advertised jwks_uri
// from the allowed origin is blocked by the browser (Fetch, CORS check). FAPI2-HTTPSIG §5.3.2.2: the
// client shall verify the response signature with the resource server's key (SIG-9: published through
// jwks_uri). Public keys carry no secret: `Access-Control-Allow-Origin: *` (or the signing routes'
// allowed origins) would be safe. The README says the exposed headers let "a browser client ... read"
// the signature, and nothing about the keys.
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

describe('SIG-9 + HDR-15: a browser client can fetch the keys that sign the responses it reads', () => {
  it('the JWKS answers an allowed origin with Access-Control-Allow-Origin', async () => {
    // The signed answer is readable from the origin (the earlier fix).
    const signed = await h.call('/out/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`], ['Origin', ORIGIN]] });
    expect(signed.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(String(signed.headers['access-control-expose-headers'])).toContain('signature');
    // The keys to verify it with: no client certificate and no token needed, but also no CORS.
    const jwks = await h.call('/.well-known/fapi-gateway/jwks.json', { headers: [['Origin', ORIGIN]] });
    expect(jwks.status).toBe(200);
    expect(jwks.json()).toHaveProperty('keys');
    // Fails: undefined (no Access-Control-Allow-Origin), so the browser withholds the body from the script.
    expect([ORIGIN, '*']).toContain(jwks.headers['access-control-allow-origin']);
  });
});
