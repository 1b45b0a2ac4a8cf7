// Signed messages in operation: refusals and the signature stage in /metrics, HEAD and POST on the JWKS
// path, a signed round trip.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { digest, edKey, keyFile, mtlsReq, mtlsToken, sign, type ClientKey, type SigningKeyFile } from '../support/http-sig.js';

let h: Harness;
let k: ClientKey;
let key: SigningKeyFile;
beforeAll(async () => {
  k = edKey('k1');
  key = keyFile();
  h = await startHarness({
    routes: [
      { id: 'signed', match: { methods: ['GET', 'POST', 'HEAD'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true }, sign_responses: true },
    ],
    patch: (c) => {
      c.http_signatures = {
        clients: { 'client-1': { jwks: { keys: [k.jwk] } } },
        response_signing: { keys: [{ key_file: key.file, kid: 'gw-1', alg: 'EdDSA' }] },
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
  key.cleanup();
});

const metrics = async (): Promise<string> => (await fetch(`${h.adminUrl}/metrics`)).text();

describe('checked and true', () => {
  it('signature refusals are counted by reason in fapi_gateway_requests_total', async () => {
    const r = await h.call('/signed/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`]] });
    expect(r.status).toBe(401);
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_request"');
    expect(await metrics()).toMatch(/fapi_gateway_requests_total\{route="signed",decision="deny",reason="GW_HTTP_SIG_MISSING",status="401"\} 1/);
  });


  it('HEAD on the JWKS path: 200, the GET headers, no body, logged SIGNING_KEYS', async () => {
    const iid = randomUUID();
    const head = await h.call('/.well-known/fapi-gateway/jwks.json', { method: 'HEAD', headers: [['x-fapi-interaction-id', iid]] });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('application/jwk-set+json');
    expect(head.headers['cache-control']).toBe('max-age=300');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
    expect((await logFor(h, iid))?.reason).toBe('SIGNING_KEYS');
    // Not POST: routed, and no route takes it.
    const post = await h.call('/.well-known/fapi-gateway/jwks.json', { method: 'POST', body: Buffer.from('x') });
    expect(post.status).toBe(404);
  });

  it('a signed POST round trip: verified, forwarded, the answer signed; the log names the key that verified it (SIG-10)', async () => {
    const body = Buffer.from('{"amount":"1.00"}');
    const req = await sign(await mtlsReq(h, 'POST', '/signed/pay', body), k);
    const iid = randomUUID();
    const r = await h.call(req.path, { method: 'POST', cert: h.pki.client1, headers: [...req.headers, ['x-fapi-interaction-id', iid]], body });
    expect(r.status).toBe(200);
    expect(r.headers['signature-input']).toMatch(/"signature";key="sig1";req/);
    expect(r.headers['content-digest']).toBe(digest(Buffer.from(r.body)));
    const line = await logFor(h, iid);
    expect(line?.reason).toBe('OK');
    // What an auditor looks for: which client key signed. The key itself is never logged.
    expect(line?.signature_keyid).toBe('k1');
    expect(JSON.stringify(line)).not.toContain(String(k.jwk.x));
    // The check's latency, the body's upload included, is its own stage.
    expect(await metrics()).toMatch(/fapi_gateway_stage_duration_seconds_count\{stage="signature"\} [1-9]/);
  });
});
