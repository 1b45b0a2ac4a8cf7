// Found in review (fixed; the test failed before): HDR-16 "answer 431 when exceeded, and log the size".
// The listener's 431 was logged with detail "HPE_HEADER_OVERFLOW" only: an operator could not tell a
// TPP sending a 20 KB token from one a few bytes over a tightened max_header_bytes. Now the detail
// names the limit in force and the bytes read on the connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('HDR-16: the 431 log line', () => {
  it('a 20 KB head: the 431 line says the limit and the size', async () => {
    const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, 2000);
    expect(response).toMatch(/^HTTP\/1\.1 431 /);
    const id = /x-fapi-interaction-id: ([0-9a-f-]{36})/i.exec(response)?.[1];
    let line: Record<string, any> | undefined;
    for (let i = 0; i < 100 && line === undefined; i++) {
      line = h.logLines().find((l) => l.interaction_id === id);
      if (line === undefined) await sleep(10);
    }
    expect(line).toMatchObject({ reason: 'GW_HEADERS_TOO_LARGE', status: 431 });
    const m = /request head over max_header_bytes 16384 \((\d+) bytes read on the connection\)/.exec(String(line?.detail));
    expect(m, String(line?.detail)).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(16384);
  });
});
