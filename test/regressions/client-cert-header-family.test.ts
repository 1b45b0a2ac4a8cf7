// Found in review (fixed; the test failed before): HDR-10 (`Client-Cert*`), MTLS-5. Only the exact names
// client-cert, client-cert-chain and x-client-cert were stripped: the rest of the families a
// TLS-terminating load balancer sets (Client-Cert-*, Google's X-Client-Cert-*, AWS's
// X-Amzn-Mtls-Clientcert*, Azure's X-ARR-ClientCert) reached the upstream as the client wrote them, and
// a legacy API once behind such a balancer may trust them. Now stripped by prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const SPOOFED: [string, string][] = [
  ['Client-Cert-Verified', 'SUCCESS'],
  ['Client-Cert-Subject', 'CN=victim'],
  ['X-Client-Cert-Present', 'true'],
  ['X-Client-Cert-Chain-Verified', 'true'],
  ['X-Client-Cert-Hash', 'c3Bvb2ZlZA=='],
  ['X-Client-Cert-Subject-DN', 'CN=victim'],
  ['X-Amzn-Mtls-Clientcert', 'spoofed'],
  ['X-Amzn-Mtls-Clientcert-Leaf', 'spoofed'],
  ['X-Amzn-Mtls-Clientcert-Subject', 'CN=victim'],
  ['X-ARR-ClientCert', 'spoofed'],
];

describe('HDR-10 / MTLS-5: the client-certificate header family never reaches the upstream', () => {
  it('HDR-10: Client-Cert-*, X-Client-Cert-*, X-Amzn-Mtls-Clientcert* and X-ARR-ClientCert sent by the client are dropped', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const before = h.upstream.received.length;
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ...SPOOFED] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    const up = h.upstream.received.at(-1)!;
    const reached = SPOOFED.map(([n]) => n.toLowerCase()).filter((n) => up.headers[n] !== undefined);
    expect(reached).toEqual([]);
  });
});
