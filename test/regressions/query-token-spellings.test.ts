// Found in review (fixed; the test failed before): CRED-3, CRED-5, M12, HDR-11. The query check compared
// the decoded parameter name with exactly `access_token`, and the query goes upstream as sent: a valid
// Authorization header plus a second token under a name an upstream parser reads as access_token
// (PHP `access.token`, `access+token`, ` access_token`, `access[token`, `access_token[]`; `;access_token`
// for Rack 2, Go, CGI.pm; ASP.NET's case-insensitive `ACCESS_TOKEN`) was 200 and the token reached the
// upstream. Now the check reads names as route/query.ts canonicalName does, with `;` as a separator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenges, expectErrorContract } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bound = (extra: Record<string, unknown> = {}) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...extra });

describe('CRED-5 / M12: Authorization header plus a query token in an upstream parser\'s spelling', () => {
  it('CRED-5: ?access.token= / access+token / access[token / access_token[] / ;access_token / ACCESS_TOKEN next to a valid Bearer -> 400, nothing forwarded', async () => {
    const mine = await bound();
    const victims = await bound({ sub: 'victim' });
    const spellings = [
      `access.token=${victims}`,
      `access+token=${victims}`,
      `%20access_token=${victims}`,
      `access[token=${victims}`,
      `access_token[]=${victims}`,
      `x=1;access_token=${victims}`,
      `ACCESS_TOKEN=${victims}`,
    ];
    const leaked: string[] = [];
    for (const q of spellings) {
      const before = h.upstream.received.length;
      const r = await h.call(`/accounts/1?${q}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${mine}`]] });
      if (r.status !== 400 || h.upstream.received.length !== before) {
        leaked.push(`${q.slice(0, q.lastIndexOf('='))} -> ${r.status}${h.upstream.received.length !== before ? ' (forwarded with the second token)' : ''}`);
        continue;
      }
      expectErrorContract(r, 400, 'invalid_request');
      for (const c of challenges(r)) expect(c).toContain('error="invalid_request"');
    }
    expect(leaked).toEqual([]);
  });
});
