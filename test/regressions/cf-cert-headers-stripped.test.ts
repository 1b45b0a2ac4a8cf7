// Found in review (fixed; the test failed before): MTLS-5 ("Always strip Client-Cert, Client-Cert-Chain, X-Client-Cert, X-SSL-* and similar fields from
// untrusted inbound requests") and README "Forward" (every client-sent certificate header is stripped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('MTLS-5: client-certificate headers of TLS-terminating CDNs are stripped like the others', () => {
  // MTLS-5: BUG. Cloudflare's "Add TLS client auth headers" transform (cf-cert-verified,
  // cf-cert-presented, cf-cert-fingerprint-sha256, cf-cert-subject-dn, ...) is a client-certificate family
  // an upstream that once sat behind Cloudflare trusts exactly like X-SSL-* or X-Amzn-Mtls-Clientcert.
  // The gateway strips Cloudflare's CF-Connecting-IP, but the cf-cert-* family passes through verbatim,
  // so a client (with its own valid token and certificate) forwards another client's certificate
  // identity: src/forward/headers.ts:22-57 (ALWAYS_STRIPPED / strippedPrefix lack `cf-cert-`).
  it('a client-sent cf-cert-verified / cf-cert-fingerprint-sha256 / cf-cert-subject-dn never reaches the upstream', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/cdn', {
      cert: h.pki.client1,
      headers: [
        ['Authorization', `Bearer ${token}`],
        ['cf-cert-presented', '1'],
        ['cf-cert-verified', 'true'],
        ['cf-cert-fingerprint-sha256', Buffer.from(h.pki.client2.x5tS256, 'base64url').toString('hex')],
        ['cf-cert-subject-dn', 'CN=client-2'],
      ],
    });
    expect(r.status).toBe(200);
    const got = h.upstream.received.at(-1)!.headers;
    expect(Object.keys(got).filter((k) => k.startsWith('cf-cert-'))).toEqual([]);
  });

  it('control: X-SSL-Client-Cert, X-Amzn-Mtls-Clientcert and CF-Connecting-IP are stripped', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/cdn', {
      cert: h.pki.client1,
      headers: [
        ['Authorization', `Bearer ${token}`],
        ['X-SSL-Client-Cert', 'x'],
        ['X-Amzn-Mtls-Clientcert', 'x'],
        ['CF-Connecting-IP', '10.0.0.1'],
      ],
    });
    expect(r.status).toBe(200);
    const got = h.upstream.received.at(-1)!.headers;
    expect([got['x-ssl-client-cert'], got['x-amzn-mtls-clientcert'], got['cf-connecting-ip']]).toEqual([undefined, undefined, undefined]);
  });
});
