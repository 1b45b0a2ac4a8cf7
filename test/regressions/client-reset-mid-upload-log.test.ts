// Found in review (fixed; the test failed before): Node reports a
// client's TCP reset as a 'clientError' (ECONNRESET) too, and the listener hands every clientError to
// bodyRefused. A client that resets mid-upload is therefore logged and counted as the gateway refusing
// it: decision 'deny', reason GW_BAD_REQUEST, status 400, "request body refused by the parser:
// ECONNRESET", though nothing was sent (0278a86: status 0 when nothing was sent) and the client left.
import { connect as tcp, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logsFor, startHarness, type Harness } from '../support/gateway.js';
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

describe('a client that resets its connection mid-upload', () => {
  it('is logged as aborted with status 0, not as a 400 the parser refused', async () => {
    const id = 'd16b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a01';
    const raw: Socket = tcp({ host: '127.0.0.1', port: h.port });
    await new Promise((ok) => raw.once('connect', ok));
    const socket = connect({ socket: raw, host: '127.0.0.1', ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
    socket.on('error', () => undefined);
    await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
    socket.write(`POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\nContent-Length: 1000\r\n\r\nabc`);
    await new Promise((r) => setTimeout(r, 300));
    raw.resetAndDestroy();
    const [line] = await logsFor(h, id);
    expect(line).toBeDefined();
    // Allowed and forwarded (the upstream got it), then the client left: not a refusal, nothing sent.
    expect([line?.decision, line?.reason, line?.status]).toEqual(['allow', 'CLIENT_ABORTED', 0]);
  });
});
