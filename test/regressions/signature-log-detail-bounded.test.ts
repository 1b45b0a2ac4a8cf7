// Found in review (fixed; the test failed before): the log line's `detail` of a signature refusal
// repeats client-chosen text without a bound. request-signature.ts cuts keyid, client_id and alg to
// 80/40 characters, but three messages carry a whole component name or label: "Signature has no byte
// sequence labelled <label>" (request-signature.ts), and "covered field <name> is not in the request" /
// "is not lower-case" / "is not a request component the gateway derives" (signature-base.ts). A covered
// name or a label is limited only by server.limits.max_header_bytes (16 KiB by default), so one
// unauthenticated-signature request writes ~16 KB into the log (and a burst of them fills the log
// pipeline: lines are written synchronously, README "Logs and metrics"). The other client-chosen values
// in the log are cut (pathAsSent: 256, the Transfer-Encoding: 80, the CORS origin: 200).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, type Harness } from '../support/gateway.js';
import { edKey, mtlsToken, now, signedHarness, type ClientKey } from '../support/http-sig.js';

const LONG = 8000;
let h: Harness;
let k: ClientKey;
beforeAll(async () => {
  k = edKey('k1');
  h = await signedHarness([{ id: 'signed', match: { methods: ['GET'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [k]);
});
afterAll(async () => {
  await h?.close();
});

async function refusedDetail(signatureInput: string, signature: string): Promise<string> {
  const iid = randomUUID();
  const r = await h.call('/signed/1', {
    cert: h.pki.client1,
    headers: [
      ['Authorization', `Bearer ${await mtlsToken(h)}`],
      ['Signature-Input', signatureInput],
      ['Signature', signature],
      ['x-fapi-interaction-id', iid],
    ],
  });
  expect(r.status).toBe(401);
  const line = await logFor(h, iid);
  expect(line?.reason).toBe('GW_HTTP_SIG_INVALID');
  return String(line?.detail);
}

describe('a signature refusal logs a bounded detail', () => {
  it('a long covered field name the request lacks', async () => {
    const name = `x-${'a'.repeat(LONG)}`;
    const detail = await refusedDetail(`sig1=("@method" "@target-uri" "authorization" "${name}");created=${now()};keyid="k1";tag="fapi-2-request"`, 'sig1=:AAAA:');
    expect(detail).toMatch(/^SIG-3 covered field/);
    // Fails: the whole 8,002-character name is in the detail.
    expect(detail.length).toBeLessThan(512);
  });

  it('a long label with no Signature member', async () => {
    const label = `s${'a'.repeat(LONG)}`;
    const detail = await refusedDetail(`${label}=("@method" "@target-uri" "authorization");created=${now()};keyid="k1";tag="fapi-2-request"`, 'other=:AAAA:');
    expect(detail).toMatch(/^SIG-2 Signature has no byte sequence labelled/);
    // Fails: the whole 8,001-character label is in the detail.
    expect(detail.length).toBeLessThan(512);
  });
});
