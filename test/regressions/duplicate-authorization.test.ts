// CRED-5 / M12: more than one Authorization field is an ambiguous request (Node keeps only the first in
// req.headers, so the gateway must count raw fields). 400 invalid_request on every challenge, never forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges, refusedNotForwarded } from '../support/contract.js';
import { startHarness, type CallOptions, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bound = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });

async function ambiguous(path: string, opts: CallOptions): Promise<TestResponse> {
  const r = await refusedNotForwarded(h, path, opts, 400, 'invalid_request');
  const c = challenges(r);
  expect(c).toHaveLength(2);
  for (const v of c) expect(v).toContain('error="invalid_request"');
  return r;
}

describe('CRED-5 / M12: two Authorization fields', () => {
  it('CRED-5: the same valid token twice -> 400', async () => {
    const t = await bound();
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`], ['Authorization', `Bearer ${t}`]] });
  });
  it('CRED-5: a valid token first and another subject\'s token second -> 400 (not "first wins")', async () => {
    await ambiguous('/accounts/1', {
      cert: h.pki.client1,
      headers: [['Authorization', `Bearer ${await bound()}`], ['Authorization', `Bearer ${await bound({ sub: 'victim' })}`]],
    });
  });
  it('CRED-5: an invalid token first and the valid one second -> 400 (not "last wins")', async () => {
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', 'Bearer garbage'], ['Authorization', `Bearer ${await bound()}`]] });
  });
  it('CRED-5: Authorization + lowercase authorization -> 400', async () => {
    const t = await bound();
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`], ['authorization', `Bearer ${t}`]] });
  });
  it('CRED-5: Bearer and DPoP scheme fields together -> 400', async () => {
    const t = await bound();
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`], ['AUTHORIZATION', `DPoP ${t}`]] });
  });
  it('CRED-5: an unsupported scheme next to a valid Bearer -> 400, not "Basic ignored"', async () => {
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', 'Basic dXNlcjpwYXNz'], ['Authorization', `Bearer ${await bound()}`]] });
  });
  it('CRED-5: an empty second Authorization field -> 400', async () => {
    await ambiguous('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await bound()}`], ['Authorization', '']] });
  });
  it('CRED-5: on a POST with a body, nothing is forwarded', async () => {
    const t = await bound({ scope: 'payments' });
    await ambiguous('/payments', { method: 'POST', cert: h.pki.client1, body: '{"a":1}', headers: [['Authorization', `Bearer ${t}`], ['Authorization', `Bearer ${t}`]] });
  });
  it('CRED-5: two fields sent as raw bytes over TLS (no client library in between) -> 400', async () => {
    const t = await bound();
    const before = h.upstream.received.length;
    const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${t}\r\nauthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(response).toContain('"error":"invalid_request"');
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('CRED-2: one field holding two credentials', () => {
  it('CRED-2: "Bearer a, Bearer b" in one field is malformed -> 400, not forwarded', async () => {
    const before = h.upstream.received.length;
    const t = await bound();
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}, Bearer ${t}`]] });
    expect(r.status).toBe(400);
    expect(r.json().error).toBe('invalid_request');
    expect(h.upstream.received.length).toBe(before);
  });
  it('control: a single field with the same token -> 200', async () => {
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await bound()}`]] });
    expect(r.status).toBe(200);
  });
});
