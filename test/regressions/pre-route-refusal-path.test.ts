// Found in review (fixed; the test failed before): HDR-2, every refusal logged with what was refused.
// Refusals thrown before the path was parsed (requestFacts) logged no `path`: a dot-dot probe
// (GW_PATH_AMBIGUOUS) or a request with two Host fields (GW_BAD_REQUEST) could not be traced to its
// target. Now `path` is the target as sent, without the query (it may hold a token), at most 256 chars.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const idOf = (response: string): string | undefined => /x-fapi-interaction-id: ([0-9a-f-]{36})/i.exec(response)?.[1];

describe('refusals before routing say which path', () => {
  it('GW_PATH_AMBIGUOUS: the dot-dot path appears in the line', async () => {
    const { response } = await h.raw('GET /accounts/%2e%2e/admin/users HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n', 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response) as string);
    expect(line).toMatchObject({ reason: 'GW_PATH_AMBIGUOUS' });
    expect(line?.path).toBe('/accounts/%2e%2e/admin/users');
  });

  it('GW_BAD_REQUEST (two Host fields): the path appears in the line', async () => {
    const { response } = await h.raw('GET /accounts/77 HTTP/1.1\r\nHost: api.test\r\nHost: evil.example\r\nConnection: close\r\n\r\n', 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response) as string);
    expect(line).toMatchObject({ reason: 'GW_BAD_REQUEST' });
    expect(line?.path).toBe('/accounts/77');
  });

  it('the query is never logged, and a long path is cut', async () => {
    const long = `/accounts/%2e%2e/${'x'.repeat(600)}`;
    const { response } = await h.raw(`GET ${long}?access_token=secret-in-query HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n`, 2000);
    const line = await logFor(h, idOf(response) as string);
    expect(line).toMatchObject({ reason: 'GW_PATH_AMBIGUOUS', path: `${long.slice(0, 256)}...` });
    expect(JSON.stringify(line)).not.toContain('secret-in-query');
  });
});
