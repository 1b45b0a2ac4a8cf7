// Found in review (fixed; the test failed before): HDR-12 Upgrade refusals and the client connection (review-smuggle). With no 'upgrade' listener Node hands
// a request carrying `Connection: Upgrade` + `Upgrade` to the gateway as an ordinary request, but llhttp
// has already switched the connection to "another protocol": it parses nothing more on it. The refusal
// (GW_UPGRADE_REFUSED 400, or a 404/401 before that check) nevertheless says `Connection: keep-alive`, so a
// client that keeps using the connection gets no answer and no log line until the idle timeout cuts it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';
import { startRecorder, type Recorder } from '../support/recorder.js';

let h: Harness;
let rec: Recorder;
let token: string;
beforeAll(async () => {
  rec = await startRecorder();
  h = await startHarness({
    upstream: upstreamAt(rec.port),
    routes: [{ id: 'mtls', match: { methods: ['GET', 'POST'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } }],
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'alice' });
});
afterAll(async () => {
  await h?.close();
  await rec?.close();
});

const next = (): string => `GET /mtls/next HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`;
const statuses = (raw: string): number[] => [...raw.matchAll(/(?:^|\r\n\r\n|\})HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('HDR-12: a refused Upgrade request leaves the client connection usable or closed, never mute', () => {
  // Was (fixed): src/listen/api-server.ts / src/gateway.ts: no refusal of a request llhttp took as an upgrade sets
  // res.shouldKeepAlive = false; the answer says keep-alive on a connection Node no longer parses.
  for (const [name, first] of [
    ['websocket on a route (GW_UPGRADE_REFUSED)', () => `GET /mtls/ws HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`],
    ['h2c on a route (GW_UPGRADE_REFUSED)', () => `GET /mtls/h2c HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`],
    ['websocket without a route (404)', () => 'GET /nowhere HTTP/1.1\r\nHost: api.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
  ] as const) {
    it(`${name}, then a pipelined request: answered, or the refusal closes the connection at once`, async () => {
      const t0 = performance.now();
      const { response, closed } = await h.raw(first() + next(), 3000);
      const elapsed = performance.now() - t0;
      const s = statuses(response);
      expect(s[0]).toBeGreaterThanOrEqual(400);
      // Never forwarded, either way.
      expect(rec.all()).not.toContain('/mtls/ws');
      expect(rec.all()).not.toContain('/mtls/h2c');
      if (s.length === 1) {
        // Not answered: then the refusal must have said so and closed, not left the client waiting.
        expect(response).toMatch(/\r\nConnection: close\r\n/i);
        expect(closed).toBe(true);
        expect(elapsed).toBeLessThan(1500);
      } else {
        expect(s).toEqual([s[0], 200]);
      }
    });
  }

  it('control: Connection: Upgrade without an Upgrade field is an ordinary request; the pipelined one behind it is served', async () => {
    const { response } = await h.raw(`GET /mtls/plain HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\n\r\n` + next(), 3000);
    expect(statuses(response)).toEqual([200, 200]);
  });
});
