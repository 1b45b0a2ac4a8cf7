// Found in review (fixed; the test failed before): requests the gateway refuses to serve because of server.limits.max_pipelined_requests are each
// logged as `aborted` / `CLIENT_ABORTED` (gateway.ts log(): no error, not forwarded), though it is the
// gateway that closed their connection; the reason is only in two connection-level lines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => void (c.server.limits = { max_pipelined_requests: 2 }) });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

describe('HDR-2: a request refused for the pipelining limit is not logged as aborted by the client', () => {
  it('4 pipelined GETs with a limit of 2: the 3 not served are not CLIENT_ABORTED', async () => {
    const ids = [0, 1, 2, 3].map((i) => `7f6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a0${i}`);
    const before = h.logLines().length;
    const reqs = ids.map((id, i) => `GET /mtls/p${i} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\n\r\n`).join('');
    const { response, closed } = await h.raw(reqs, 3000);
    expect(closed).toBe(true);
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 200']);
    await new Promise((r) => setTimeout(r, 200));
    const lines = h.logLines().slice(before).filter((l) => l.decision !== undefined);
    expect(lines.map((l) => l.interaction_id)).toEqual(ids);
    expect(lines.slice(1).filter((l) => l.reason === 'CLIENT_ABORTED').map((l) => l.interaction_id)).toEqual([]);
    // Each says why, and that nothing was sent to it.
    expect(lines.slice(1).map((l) => [l.decision, l.reason, l.status])).toEqual(Array(3).fill(['aborted', 'PIPELINE_LIMIT', 0]));
    expect(lines[0]).toMatchObject({ decision: 'allow', reason: 'OK', status: 200 });
  });
});
