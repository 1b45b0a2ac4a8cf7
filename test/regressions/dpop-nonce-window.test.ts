// Found in review (failed on the code before its fix): DPOP-26 / README dpop.nonce.window_s ("how long a nonce stays valid"). The window is rounded
// up to whole steps, so a window that is not a multiple of the step keeps nonces valid longer.
import { describe, expect, it } from 'vitest';
import { DpopNonces } from '../../src/binding/dpop-nonce.js';

const S = Buffer.alloc(32, 7);

describe('review DPOP-26: nonce lifetime vs window_s', () => {
  it('a nonce is not accepted more than window_s after it was issued (step 60 s, window 90 s)', () => {
    const n = new DpopNonces({ secrets: [S], stepS: 60, windowS: 90 });
    const issuedAt = 60_000; // start of a step
    const nonce = n.issue(issuedAt);
    expect(n.verify(nonce, issuedAt + 89_000)).toBe(true);
    // 119 s after issue, 29 s past window_s: still accepted.
    expect(n.verify(nonce, issuedAt + 119_000)).toBe(false);
  });
});
