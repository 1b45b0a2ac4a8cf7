// Found in review (fixed; the test failed before): a JWKS, metadata or introspection answer over the
// byte limit that arrived in one piece (one TLS record) was resolved as the bytes read so far (a
// misleading "not JSON"), and the OutboundError passed to req.destroy() was then thrown with no
// listener: an uncaught exception, which ends the gateway process (TLS-11, Q-13: fail closed, never crash).
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsRequest } from '../../src/token/http-client.js';
import { testPki } from '../support/pki.js';

let url: string;
let ca: string;
let close: () => Promise<void>;
beforeAll(async () => {
  const pki = await testPki();
  ca = pki.ca.certPem;
  // 3000 bytes: one TLS record, so the whole body and its end arrive together.
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'x'.repeat(2998)}"`));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  close = () => new Promise<void>((ok) => server.close(() => ok()));
});
afterAll(() => close?.());

describe('TLS-11 outbound answers over the byte limit', () => {
  it('are refused as too large, with no uncaught exception, every time', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 5; i++) {
        await expect(httpsRequest(url, { ca: [ca], timeoutMs: 2000, maxBytes: 2048 })).rejects.toThrow(/over 2048 bytes/);
      }
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    // Under the limit: the whole body.
    expect((await httpsRequest(url, { ca: [ca], timeoutMs: 2000, maxBytes: 4096 })).body.length).toBe(3000);
  });
});
