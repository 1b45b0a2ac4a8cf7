// Found in review (fixed; the test failed before): the new GW_TRANSFER_CODING_UNSUPPORTED is a client's
// request the gateway does not support, but being a 5xx it is logged and counted as `decision: "error"`
// at `warn`: README (Logs and metrics): "Lines are `info`, except `error` decisions (a dependency
// failed: upstream, JWKS, introspection AS, replay store) ... at `warn` ... alert on `warn` and above".
// Any client (no token needed: the check runs before routing) sending `Transfer-Encoding: gzip, chunked`
// raises dependency-failure alerts and the `decision="error"` request metric. It should be a `deny`
// logged at info, like the 417 for an unsupported Expect.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { openTls } from '../support/http-sig.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

describe('a transfer coding the gateway does not implement is the client\'s, not a failed dependency', () => {
  it('501 GW_TRANSFER_CODING_UNSUPPORTED: decision deny, logged at info (not a warn "error" line)', async () => {
    const iid = randomUUID();
    const c = await openTls(h);
    try {
      c.socket.write(`POST /mtls/x HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nx-fapi-interaction-id: ${iid}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`);
      await c.waitFor(/HTTP\/1\.1 \d+/, 3000);
      expect(c.received().split('\r\n')[0]).toBe('HTTP/1.1 501 Not Implemented');
    } finally {
      c.socket.destroy();
    }
    const line = await logFor(h, iid);
    expect(line?.reason).toBe('GW_TRANSFER_CODING_UNSUPPORTED');
    // Fails: {"level":"warn", "decision":"error", "msg":"error"}, the line alerting watches for failed dependencies.
    expect({ decision: line?.decision, level: line?.level }).toEqual({ decision: 'deny', level: 'info' });
  });
});
