// The §3 error contract, asserted the same way everywhere.
import { expect } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { TestResponse } from './client.js';
import type { CallOptions, Harness } from './gateway.js';

/** 'ok', or the GatewayError code a stage's promise rejected with (anything else as text). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof GatewayError ? e.code : String(e);
  }
}

/** The GatewayError a synchronous check throws; anything else (or nothing) fails the test. */
export function gatewayErrorOf(check: () => unknown): GatewayError {
  try {
    check();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a refusal');
}

export const challenges = (r: TestResponse): string[] => r.headersDistinct['www-authenticate'] ?? [];

/** Status, JSON body with a safe description (ERR-6), no-store, Date (HDR-6) and an interaction id (HDR-1). */
export function expectErrorContract(r: TestResponse, status: number, error: string): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['cache-control']).toBe('no-store');
  expect(r.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f-]{36}$/);
  expect(Math.abs(Date.parse(r.headers.date ?? '') - Date.now())).toBeLessThan(5 * 60_000);
  expect(r.json()).toEqual({ error, error_description: expect.stringMatching(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/) });
}

/** The request is refused per the contract and the upstream sees nothing. */
export async function refusedNotForwarded(h: Harness, path: string, opts: CallOptions, status: number, error: string): Promise<TestResponse> {
  const before = h.upstream.received.length;
  const r = await h.call(path, opts);
  expectErrorContract(r, status, error);
  expect(h.upstream.received.length).toBe(before);
  return r;
}
