// Review "amplify" (DPOP-5, DPOP-6): what a client with ONE valid DPoP-bound token can make the gateway
// spend per request through the proof's header `jwk`, which it chooses freely. The RSA modulus is
// bounded (2048..8192 bits) and the exponent (odd, 65537..2^32) before any import or signature check,
// and a key is cached only once its proof passed everything. Measured: ~1.4 ms of CPU per request (client and
// gateway) with a fresh random 8192-bit key and a garbage signature (the proof check alone: 0.38 ms), and a
// 16384-bit modulus or a 4096-bit exponent is refused before the key is imported. Nothing here failed
// on the code reviewed; it pins the bounds (no test had the upper key-size bound).
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath, dpopKey, type DpopKey } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt } from '../support/issuer.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

let h: Harness;
let key: DpopKey;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
  token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
});
afterAll(async () => {
  await h?.close();
});

/** A proof under a random RSA "key" of `bits` bits (exponent `e`), with a random signature below the modulus. */
function hostileProof(bits: number, e = 'AQAB'): string {
  const n = randomBytes(bits / 8);
  n[0] = (n[0] as number) | 0xc0;
  n[n.length - 1] = (n[n.length - 1] as number) | 1;
  const header = { typ: 'dpop+jwt', alg: 'PS256', jwk: { kty: 'RSA', n: n.toString('base64url'), e } };
  const payload = { jti: randomUUID(), htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, iat: Math.floor(Date.now() / 1000), ath: ath(token) };
  const sig = randomBytes(bits / 8);
  sig[0] = 1;
  return `${b64(header)}.${b64(payload)}.${sig.toString('base64url')}`;
}

describe('amplify: DPoP proof keys the client picks', () => {
  it('200 proofs with fresh random RSA-8192 keys: each refused (DPOP-6), <= 3 ms CPU per request with the client', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const proofs = Array.from({ length: 200 }, () => hostileProof(8192));
    const statuses = new Set<number>();
    const c0 = process.cpuUsage();
    for (let i = 0; i < proofs.length; i += 4) {
      await Promise.all(
        proofs.slice(i, i + 4).map(async (p) => statuses.add((await h.call('/dpop/x', { agent, headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] })).status)),
      );
    }
    const c = process.cpuUsage(c0);
    agent.destroy();
    const ms = (c.user + c.system) / 1000 / proofs.length;
    console.log(`fresh RSA-8192 proof keys: ${ms.toFixed(2)} ms CPU per refused request (client and gateway)`);
    expect([...statuses]).toEqual([401]);
    expect(ms).toBeLessThanOrEqual(3);
  });

  it('DPOP-5: a 16384-bit modulus and a 4096-bit exponent are refused before the key is imported', async () => {
    for (const [p, detail] of [
      [hostileProof(16384), /^DPOP-5 RSA key is 16384 bits, above 8192/],
      [hostileProof(2048, randomBytes(512).toString('base64url')), /^DPOP-5 RSA jwk e is not an odd exponent/],
    ] as const) {
      const iid = randomUUID();
      const r = await h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], ['x-fapi-interaction-id', iid]] });
      expect(r.status).toBe(401);
      expect(String(r.headers['www-authenticate'])).toContain('invalid_dpop_proof');
      expect(String((await logFor(h, iid))?.detail)).toMatch(detail);
    }
  });
});
