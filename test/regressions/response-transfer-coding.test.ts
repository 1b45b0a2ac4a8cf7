// Found in review (fixed; the test failed before): HDR-12, RFC 9112 §6.1/§7. An upstream answering
// `Transfer-Encoding: gzip, chunked`: Node removes only the chunked framing, the gateway dropped the
// header and re-chunked, and the client got gzip bytes as the JSON body with nothing saying so. No client
// asked for a transfer coding (the gateway sends no TE): such a response is now refused, 502.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';

const JSON_BODY = JSON.stringify({ accounts: [{ id: '1', balance: '100.00' }] });
const gz = gzipSync(JSON_BODY);
let up: TestUpstream;
let h: Harness;
let token: string;
beforeAll(async () => {
  up = await startRawUpstream((s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n${gz.length.toString(16)}\r\n`);
    s.write(gz);
    s.end('\r\n0\r\n\r\n');
  });
  h = await startHarness({
    routes: [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: 1500 } }],
    upstream: up,
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

/** Status, lower-cased fields and the de-chunked body of one raw HTTP/1.1 response. */
function parse(raw: Buffer): { status: number; headers: Record<string, string>; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  let rest = raw.subarray(end + 4);
  if (!/chunked/i.test(headers['transfer-encoding'] ?? '')) return { status: Number(head.slice(9, 12)), headers, body: rest };
  const parts: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(rest.subarray(nl + 2, nl + 2 + size));
    rest = rest.subarray(nl + 2 + size + 2);
  }
  return { status: Number(head.slice(9, 12)), headers, body: Buffer.concat(parts) };
}

describe('HDR-12: a transfer coding the gateway does not decode is never passed on undeclared', () => {
  it('upstream Transfer-Encoding: gzip, chunked -> 502, and the line says why', async () => {
    const id = '0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d';
    const { response } = await h.raw(`GET /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\nConnection: close\r\n\r\n`);
    expect(parse(Buffer.from(response, 'latin1')).status).toBe(502);
    const line = await logFor(h, id);
    expect(line).toMatchObject({ reason: 'GW_UPSTREAM_UNAVAILABLE', status: 502 });
    expect(line?.detail).toMatch(/transfer coding other than chunked: "gzip, chunked"/);
  });
});
