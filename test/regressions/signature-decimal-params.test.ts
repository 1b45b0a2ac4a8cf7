// Found in review (fixed; the test failed before): RFC 8941 Decimals in signature parameters lose their type when the gateway re-serializes
// them, so the @signature-params line (request verification) and the `"signature-input";key=..;req`
// value (response signing) are not the strict serialization RFC 9421 §2.3 / §2.1.2 require.
import { createPublicKey, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, PUBLIC_ORIGIN, type Harness } from '../support/gateway.js';
import { edKey, keyFile, mtlsToken, now, signBase, signedHarness, signingHarness, type ClientKey, type SigningKeyFile } from '../support/http-sig.js';

const ck: ClientKey = edKey('c1');

describe('SIG-2 / RFC 9421 §2.3: a Decimal signature parameter is part of @signature-params as sent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await signedHarness([{ id: 'signed', match: { methods: ['GET'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [ck]);
  });
  afterAll(async () => h?.close());

  const send = async (extraParam: string): Promise<{ status: number; detail: unknown }> => {
    const token = await mtlsToken(h);
    const inner = `("@method" "@target-uri" "authorization");created=${now()};keyid="c1";tag="fapi-2-request"${extraParam}`;
    const base = `"@method": GET\n"@target-uri": ${PUBLIC_ORIGIN}/signed/x\n"authorization": Bearer ${token}\n"@signature-params": ${inner}`;
    const iid = randomUUID();
    const r = await h.call('/signed/x', {
      cert: h.pki.client1,
      headers: [
        ['Authorization', `Bearer ${token}`],
        ['Signature-Input', `sig1=${inner}`],
        ['Signature', `sig1=:${signBase(base, ck)}:`],
        ['x-fapi-interaction-id', iid],
      ],
    });
    return { status: r.status, detail: (await logFor(h, iid))?.detail };
  };

  it('baseline: an extension parameter that is an Integer or a Decimal with a fraction verifies', async () => {
    expect((await send(';v=1')).status).toBe(200);
    expect((await send(';v=1.5')).status).toBe(200);
  });

  // SIG-2 (RFC 9421 §3.2 step 6, §2.3; RFC 8941 §4.1.5): The bug was: `v=1.0` (a Decimal) is re-serialized by
  // structured-headers as the Integer `v=1` (JS numbers do not keep the type), so the gateway verifies
  // over another @signature-params line than the client signed: a valid signature is refused (401).
  // Cause: src/signature/request-signature.ts:197 (serializeInnerList of the parsed member).
  it('a Decimal with a zero fraction (v=1.0) is kept as a Decimal: the valid signature verifies', async () => {
    const r = await send(';v=1.0');
    expect(r.status, String(r.detail)).toBe(200);
  });
});

describe('SIG-8 / RFC 9421 §2.1.2: "signature-input";key=..;req is the strict serialization of the request member', () => {
  let h: Harness;
  let key: SigningKeyFile;
  beforeAll(async () => {
    key = keyFile();
    h = await signingHarness([{ id: 'out', match: { methods: ['GET'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key);
  });
  afterAll(async () => {
    await h?.close();
    key.cleanup();
  });

  /** The response base as an RFC-conformant client rebuilds it from its own request (sent in strict form). */
  async function clientVerifies(extraParam: string): Promise<boolean> {
    const token = await mtlsToken(h);
    const inner = `("@method" "@target-uri" "authorization");created=${now()};keyid="c1";tag="fapi-2-request"${extraParam}`;
    const sigMember = `:${signBase('whatever', ck)}:`;
    const r = await h.call('/out/x', {
      cert: h.pki.client1,
      headers: [
        ['Authorization', `Bearer ${token}`],
        ['Signature-Input', `sig1=${inner}`],
        ['Signature', `sig1=${sigMember}`],
      ],
    });
    expect(r.status).toBe(200);
    const input = String(r.headers['signature-input']);
    expect(input).toContain('"signature-input";key="sig1";req');
    const params = input.slice('fapi-gw='.length);
    const base = [
      `"@status": ${r.status}`,
      `"content-digest": ${String(r.headers['content-digest'])}`,
      `"@method";req: GET`,
      `"@target-uri";req: ${PUBLIC_ORIGIN}/out/x`,
      `"signature";key="sig1";req: ${sigMember}`,
      `"signature-input";key="sig1";req: ${inner}`,
      `"@signature-params": ${params}`,
    ].join('\n');
    const jwks = (await h.call('/.well-known/fapi-gateway/jwks.json')).json() as { keys: JsonWebKey[] };
    const pub = createPublicKey({ key: jwks.keys[0] as JsonWebKey, format: 'jwk' });
    const sig = Buffer.from(/^fapi-gw=:([^:]*):$/.exec(String(r.headers.signature))?.[1] ?? '', 'base64');
    return cryptoVerify(null, Buffer.from(base, 'latin1'), pub, sig);
  }

  it('baseline: a request input with an Integer extension parameter: the client verifies the response', async () => {
    expect(await clientVerifies(';v=1')).toBe(true);
  });

  // SIG-8 (FAPI2-HTTPSIG §5.3.2.1 (3), RFC 9421 §2.1.2, RFC 8941 §4.1.5): The bug was: the response covers the
  // request's Signature-Input member re-serialized by structured-headers, which writes the Decimal 1.0 as
  // the Integer 1; the client, serializing its own member strictly, builds another base and the gateway's
  // response signature does not verify. Cause: src/signature/request-signature.ts:145 (requestSignatureOf,
  // serializeInnerList) and :205 (verified path), used by src/signature/response-signer.ts:585.
  it('a request input with a Decimal parameter (v=1.0): the client still verifies the response', async () => {
    expect(await clientVerifies(';v=1.0')).toBe(true);
  });
});
