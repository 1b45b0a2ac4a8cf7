import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../../src/errors/catalog.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('error catalog (§3)', () => {
  it('every code has a sane status, OAuth error and a description within the ERR-6 charset', () => {
    for (const [code, e] of Object.entries(CATALOG)) {
      expect(e.status, code).toBeGreaterThanOrEqual(400);
      expect(e.status, code).toBeLessThan(600);
      expect(e.error, code).toMatch(/^[a-z_]+$/);
      expect(e.description, code).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
    }
  });
  it('401 and 403 always carry a challenge (ERR-5); 5xx never do', () => {
    for (const [code, e] of Object.entries(CATALOG)) {
      if (e.status === 401 || e.status === 403) expect(e.challenge, code).not.toBe('none');
      if (e.status >= 500) expect(e.challenge, code).toBe('none');
    }
  });
  it('the statuses of the error contract hold (E1..E6, E9)', () => {
    expect(CATALOG.GW_NO_CREDENTIALS).toMatchObject({ status: 401, challenge: 'bare' });
    expect(CATALOG.GW_MULTIPLE_CREDENTIALS).toMatchObject({ status: 400, error: 'invalid_request', challenge: 'all' });
    expect(CATALOG.GW_TOKEN_INVALID).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(CATALOG.GW_DPOP_PROOF_INVALID).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
    expect(CATALOG.GW_DPOP_REPLAY).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
    expect(CATALOG.GW_DPOP_KEY_MISMATCH).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(CATALOG.GW_DPOP_NONCE_REQUIRED).toMatchObject({ status: 401, error: 'use_dpop_nonce' });
    expect(CATALOG.GW_INSUFFICIENT_SCOPE).toMatchObject({ status: 403, error: 'insufficient_scope' });
    expect(CATALOG.GW_REPLAY_STORE_UNAVAILABLE).toMatchObject({ status: 503, challenge: 'none' });
  });
  it('every code is documented in the README error catalog with its status', () => {
    for (const [code, e] of Object.entries(CATALOG)) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, `${code} missing from README`).toBeDefined();
      expect(row, code).toContain(`| ${e.status} |`);
    }
  });
});
