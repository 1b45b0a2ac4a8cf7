// CRED-8: an Authorization or DPoP header over max_credential_bytes is refused with 431 whatever else the
// request carries. The size check used to run after the "no Authorization" (E1), CRED-3 and CRED-5 checks,
// so a 9 KB DPoP header with no Authorization got a bare 401 challenge, and an oversized field beside a
// query token or a second Authorization got 400: the oversized value had been scanned before being refused.
// 9 KB stays under the 16 KiB head limit, so this is the pipeline's CRED-8 check, not the listener's HDR-16.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenges, refusedNotForwarded } from '../support/contract.js';
import { startHarness, type CallOptions, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

const BIG = 'A'.repeat(9 * 1024);

/** 431 with the contract body and no challenge, never forwarded. */
async function tooLarge(path: string, headers: [string, string][]): Promise<void> {
  const opts: CallOptions = { cert: h.pki.client1, headers };
  const r = await refusedNotForwarded(h, path, opts, 431, 'invalid_request');
  expect(r.json().error_description).toBe('Request header fields are too large');
  expect(challenges(r)).toEqual([]);
}

describe('CRED-8: credential size is checked before anything else about the credentials', () => {
  it('CRED-8: a 9 KB DPoP header with no Authorization, or with Authorization: Basic -> 431, not a bare 401 (E1)', async () => {
    await tooLarge('/accounts/1', [['DPoP', BIG]]);
    await tooLarge('/accounts/1', [['Authorization', 'Basic dXNlcjpwYXNz'], ['DPoP', BIG]]);
    await tooLarge('/accounts/1', [['Authorization', `Basic ${BIG}`]]);
  });

  it('CRED-8: an oversized Authorization or DPoP beside an access_token query parameter or a second Authorization -> 431, not 400 (CRED-3 / CRED-5)', async () => {
    await tooLarge('/accounts/1?access_token=x', [['DPoP', BIG]]);
    await tooLarge('/accounts/1?access_token=x', [['Authorization', `Bearer ${BIG}`]]);
    await tooLarge('/accounts/1', [['Authorization', `Bearer ${token}`], ['Authorization', `Bearer ${BIG}`]]);
    await tooLarge('/accounts/1', [['Authorization', `DPoP ${token}`], ['Authorization', `DPoP ${token}`], ['DPoP', BIG]]);
  });
});
