// Found in review (fixed; the test failed before): answers written straight to the socket (api-server.ts: the CONNECT listener and the clientError
// listener) use socket.end() and nothing else. The gateway's side then stays open for as long as the
// client keeps its own side open: no headers/request/keep-alive timeout applies to the connection any
// more (Node's own clientError path destroys the socket). A client that connects, sends nothing (408) or
// a CONNECT (400), and never closes, holds a socket in the gateway for ever.
import { connect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => void (c.server.limits = { headers_timeout_ms: 300, request_timeout_ms: 500, keep_alive_timeout_ms: 200 }) });
});
afterAll(async () => {
  await h?.close();
});

/** The gateway's own (server-side) sockets of its API listener still open in this process. */
const gatewaySockets = (): number =>
  (process as unknown as { _getActiveHandles(): { localPort?: number; destroyed?: boolean }[] })._getActiveHandles().filter((s) => s?.localPort === h.port && s.destroyed !== true).length;

/** Sends `payload`, reads the answer, never closes its side; how many gateway sockets remain after `waitMs`. */
async function clientThatNeverCloses(payload: string, waitMs: number): Promise<{ answer: string; open: number }> {
  const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, allowHalfOpen: true } as ConnectionOptions);
  let text = '';
  socket.setEncoding('latin1').on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  try {
    await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
    if (payload !== '') socket.write(payload);
    await new Promise((r) => setTimeout(r, waitMs));
    return { answer: text.slice(0, 12), open: gatewaySockets() };
  } finally {
    socket.destroy();
  }
}

describe('a connection the gateway answered and ended is released even if the client never closes', () => {
  it('CONNECT -> 400, then the gateway closes its socket', async () => {
    expect(await clientThatNeverCloses('CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 3500)).toEqual({ answer: 'HTTP/1.1 400', open: 0 });
  });

  it('nothing sent -> 408 (headers timeout), then the gateway closes its socket', async () => {
    expect(await clientThatNeverCloses('', 3500)).toEqual({ answer: 'HTTP/1.1 408', open: 0 });
  });
});
