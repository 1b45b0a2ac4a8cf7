// Found in review (fixed; the test failed before): on a route with `sign_responses` but without
// `auth.signed_requests`, a client that signs its request anyway (a fapi-2-request signature) gets a
// response whose signature does not cover that request signature. FAPI 2.0 HTTP Signatures §5.3.2.1 (3):
// "if the request was signed, shall include the request signature and request signature input in the
// response signature input by means of the `req` boolean flag". The condition is that the request was
// signed, not that the gateway verified it; covering it needs no verification (the `;req` values are
// what the client sent, exactly as `content-digest;req` is covered here without being checked).
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, type Harness } from '../support/gateway.js';
import { keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

let h: Harness;
let key: SigningKeyFile;
const client = generateKeyPairSync('ed25519');
beforeAll(async () => {
  key = keyFile();
  h = await signingHarness([{ id: 'out', match: { methods: ['POST'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key);
});
afterAll(async () => {
  await h?.close();
  key.cleanup();
});

describe('a signed request on a sign_responses route without signed_requests', () => {
  it('the response signature covers the request signature (and its input) with ;req', async () => {
    const body = Buffer.from('{"amount":"1.00"}');
    const headers: Record<string, string> = {
      authorization: `Bearer ${await mtlsToken(h)}`,
      'content-digest': `sha-256=:${createHash('sha256').update(body).digest('base64')}:`,
    };
    const signed = await httpbis.signMessage(
      {
        key: { id: 'c1', sign: async (d: Buffer) => cryptoSign(null, d, client.privateKey) },
        fields: ['@method', '@target-uri', 'authorization', 'content-digest'],
        params: ['created', 'keyid', 'tag'],
        paramValues: { tag: 'fapi-2-request' },
        name: 'sig1',
      },
      { method: 'POST', url: `${PUBLIC_ORIGIN}/out/pay`, headers },
    );
    const sent = Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)] as [string, string]);
    const r = await h.call('/out/pay', { method: 'POST', cert: h.pki.client1, headers: sent, body });
    expect(r.status).toBe(200);
    const input = String(r.headers['signature-input']);
    expect(input).toContain('"content-digest";req');
    // Fails: fapi-gw=("@status" "content-digest" "@method";req "@target-uri";req "content-digest";req);...
    expect(input).toMatch(/"signature";(key="sig1";req|req;key="sig1")/);
  });
});
