// Found in review (fixed; the test failed before): README "Logs and metrics" and test/regressions/signature-log-detail-bounded.test.ts: client-chosen text
// in a line's `detail` is cut (the CORS origin at 200, Transfer-Encoding at 80, signature names at 80).
// Bug: a request no route matches is logged with `detail: "no route for <METHOD> <whole normalised path>"`
// (src/gateway.ts:411), so the path, already in `path`, is written twice and without a bound: one
// unauthenticated request of ~16 KB (the default max_header_bytes) writes ~32 KB into the log, for the
// most common refusal there is (scanners probing unknown paths). Lines are written synchronously.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('GW_ROUTE_NOT_FOUND: the log line', () => {
  it('does not repeat a long unknown path in `detail` without a bound', async () => {
    const id = randomUUID();
    const path = `/nowhere/${'a'.repeat(14_000)}`;
    const r = await h.call(path, { headers: [['x-fapi-interaction-id', id]] });
    expect(r.status).toBe(404);
    const line = await logFor(h, id);
    expect(line).toMatchObject({ reason: 'GW_ROUTE_NOT_FOUND', route: '-' });
    expect(String(line?.detail).length).toBeLessThanOrEqual(400);
  });
});
