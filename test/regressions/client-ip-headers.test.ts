// Found in review (fixed; the test failed before): HDR-10. X-Real-IP was dropped and X-Forwarded-For
// rewritten, but Client-IP, True-Client-IP, CF-Connecting-IP, X-Client-IP, X-Cluster-Client-IP and
// X-Original-Forwarded-For reached the upstream as sent: frameworks read them as the caller's address,
// so a caller could pose as any source to an upstream that allow-lists or rate-limits by address.
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
  ['Client-IP', '10.0.0.66'],
  ['True-Client-IP', '10.0.0.66'],
  ['CF-Connecting-IP', '10.0.0.66'],
  ['X-Client-IP', '10.0.0.66'],
  ['X-Cluster-Client-IP', '10.0.0.66'],
  ['X-Original-Forwarded-For', '10.0.0.66'],
];

describe('HDR-10: client-address headers other than X-Forwarded-For / X-Real-IP', () => {
  it('HDR-10: Client-IP, True-Client-IP, CF-Connecting-IP, X-Client-IP, X-Cluster-Client-IP, X-Original-Forwarded-For never reach the upstream as sent', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const before = h.upstream.received.length;
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['X-Real-IP', '10.0.0.66'], ...SPOOFED] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    const up = h.upstream.received.at(-1)!;
    // Control: X-Real-IP is already dropped and X-Forwarded-For rewritten.
    expect(up.headers['x-real-ip']).toBeUndefined();
    expect(up.headers['x-forwarded-for']).toBe('127.0.0.1');
    const reached = SPOOFED.map(([n]) => n.toLowerCase()).filter((n) => up.headers[n] !== undefined);
    expect(reached).toEqual([]);
  });
});
