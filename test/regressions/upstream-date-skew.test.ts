// Found checking HDR-6 (fixed; the test failed before): every response carries a Date within ±5 min of
// real time (the FAPI suite fails a response whose Date is missing, unparseable or skewed). A forwarded
// response passed the legacy upstream's own Date on: an upstream with a wrong clock, or a malformed Date,
// made the gateway fail conformance. The client's message is the gateway's: its own Date, always.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  h.upstream.handler = (req, res) => {
    const date = req.url === '/mtls/skewed' ? 'Mon, 01 Jan 2001 00:00:00 GMT' : 'not a date';
    res.writeHead(200, { 'content-type': 'application/json', date });
    res.end('{}');
  };
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

describe('HDR-6: the Date of a forwarded response is the gateway\'s', () => {
  for (const path of ['/mtls/skewed', '/mtls/malformed']) {
    it(`${path}: one Date, within 5 minutes of now`, async () => {
      const r = await h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
      expect(r.status).toBe(200);
      const dates = r.rawHeaders.filter((_, i) => i % 2 === 0 && r.rawHeaders[i]?.toLowerCase() === 'date').length;
      expect(dates).toBe(1);
      const when = Date.parse(String(r.headers.date));
      expect(Math.abs(when - Date.now())).toBeLessThan(5 * 60_000);
    });
  }
});
