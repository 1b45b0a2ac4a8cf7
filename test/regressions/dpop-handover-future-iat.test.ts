// Found in review (failed on the code before its fix): DPOP-21 across a reload that widens iat_past_s. The handover keeps the old window only for
// proofs with iat < reload time, but a proof claimed *before* the reload may carry an iat up to
// iat_future_s *after* it; its replay entry still expires with the old (short) TTL.
import { randomUUID } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { DpopVerifier, DPOP_DEFAULTS } from '../../src/binding/dpop-proof.js';
import { expectedHtu } from '../../src/binding/htu.js';
import { MemoryReplayStore } from '../../src/replay/memory.js';

const AT = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo';
const HTU = expectedHtu('https://api.bank.example', '/accounts/123');
const T0 = 1_760_000_000_000;

describe('review DPOP-21: reload handover and future iat', () => {
  it('a proof claimed before a reload that widens iat_past_s is not accepted again after its replay entry expired', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const jkt = await calculateJwkThumbprint(jwk);
    // iat 10 s ahead of the gateway clock: inside iat_future_s = 10.
    const claims = { jti: randomUUID(), htm: 'GET', htu: HTU, iat: T0 / 1000 + 10, ath: ATH };
    const p = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .sign(privateKey);
    const input = { proofs: [p], method: 'GET', htu: HTU, accessToken: AT, expectedJkt: jkt, nonceRequired: false };

    let now = T0;
    const store = new MemoryReplayStore({ now: () => now });
    const narrow = new DpopVerifier({ ...DPOP_DEFAULTS, iatPastS: 60, iatFutureS: 10 });
    const r1 = narrow.verifyNow(input, now);
    expect(store.claimNow(r1.replayKey, r1.ttlMs)).toBe(true); // first use: 200

    // Reload 5 s later widens the past window to 300 s (what main.ts does).
    now = T0 + 5_000;
    const wide = new DpopVerifier({ ...DPOP_DEFAULTS, iatPastS: 300, iatFutureS: 10, earlier: narrow.handover(now / 1000) });

    // 100 s after first use: the replay entry (TTL 80 s) is gone.
    now = T0 + 100_000;
    const replayed = (() => {
      try {
        const r2 = wide.verifyNow(input, now);
        return store.claimNow(r2.replayKey, r2.ttlMs) ? 'accepted again' : 'refused (replay)';
      } catch (e) {
        return `refused: ${(e as Error).message}`;
      }
    })();
    expect(replayed).not.toBe('accepted again');
  });
});
