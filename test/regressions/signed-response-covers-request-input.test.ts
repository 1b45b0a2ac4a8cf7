// Found in review (fixed; the test failed before): a response to a signed request covers the request's
// Signature member (`"signature";key="<label>";req`) but not its Signature-Input member. FAPI 2.0 HTTP
// Signatures §5.3.2.1 (RS as signer), item 3: "if the request was signed, shall include the request
// signature and request signature input in the response signature input by means of the `req` boolean
// flag"; requirement SIG-8: "plus the request's `signature;req`/`signature-input;req` when the request
// was signed". Without signature-input;req the response is bound to the signature bytes but not to what
// they covered (components, created, keyid, tag): the binding the spec asks for is incomplete.
import { generateKeyPairSync, sign as cryptoSign, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpbis } from 'http-message-signatures';
import { parseDictionary } from 'structured-headers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-sigin-'));
const gwKey = generateKeyPairSync('ed25519');
writeFileSync(join(dir, 'gw.pem'), gwKey.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
const client = generateKeyPairSync('ed25519');
const sha256 = (b: Buffer | string): string => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    routes: [{ id: 'both', match: { methods: ['POST'], path_prefix: '/both' }, auth: { binding: 'mtls', signed_requests: true }, sign_responses: true }],
    patch: (c) => {
      c.http_signatures = {
        clients: { 'tpp-1': { jwks: { keys: [{ ...client.publicKey.export({ format: 'jwk' }), kid: 'c1', alg: 'Ed25519' }] } } },
        response_signing: { keys: [{ key_file: join(dir, 'gw.pem'), kid: 'gw-1', alg: 'EdDSA' }] },
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIG-8 / FAPI2-HTTPSIG §5.3.2.1 (3): a signed request binds the response by its signature AND signature input', () => {
  it('the response signature covers "signature-input";key="<label>";req as well as "signature";key="<label>";req', async () => {
    const body = Buffer.from('{"amount":"2.00"}');
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), client_id: 'tpp-1' });
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-digest': sha256(body) };
    const signed = await httpbis.signMessage(
      {
        key: { id: 'c1', sign: async (d: Buffer) => cryptoSign(null, d, client.privateKey) },
        fields: ['@method', '@target-uri', 'authorization', 'content-digest'],
        params: ['created', 'keyid', 'tag'],
        paramValues: { tag: 'fapi-2-request' },
        name: 'req1',
      },
      { method: 'POST', url: `${PUBLIC_ORIGIN}/both/x`, headers },
    );
    const sent = Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)] as [string, string]);
    const r = await h.call('/both/x', { method: 'POST', cert: h.pki.client1, headers: sent, body });
    expect(r.status).toBe(200);
    const input = parseDictionary(String(r.headers['signature-input'])).get('fapi-gw');
    const covered = (input?.[0] as [string, Map<string, unknown>][]).map(([name, params]) => `${name}${params.get('req') === true ? ';req' : ''}${params.has('key') ? `;key=${String(params.get('key'))}` : ''}`);
    expect(covered).toContain('signature;req;key=req1');
    // Fails: only the Signature member is covered, the request's Signature-Input member is not.
    expect(covered).toContain('signature-input;req;key=req1');
  });
});
