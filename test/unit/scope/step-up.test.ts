// STEP-1..STEP-5 (RFC 9470): acr and auth_time against the route's step-up rule.
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../src/errors/gateway-error.js';
import { checkStepUp } from '../../../src/scope/step-up.js';
import type { Route, StepUpRule, TokenClaims } from '../../../src/types.js';
import { gatewayErrorOf } from '../../support/contract.js';

const NOW = 1_760_000_000;
const route = (stepUp: Partial<StepUpRule> | undefined): Route =>
  ({ stepUp: stepUp && { acrValues: [], maxAgeS: undefined, leewayS: 10, ...stepUp } }) as unknown as Route;
const token = (c: Partial<TokenClaims>): TokenClaims => ({ subject: 'user-1', clientId: 'client-1', ...c }) as unknown as TokenClaims;

const refusal = (claims: TokenClaims, r: Route): GatewayError => gatewayErrorOf(() => checkStepUp(claims, r, NOW));

describe('step-up (STEP-1..STEP-5)', () => {
  it('STEP-1 routes without a rule accept any token, client credentials included', () => {
    expect(() => checkStepUp(token({ subject: 'client-1' }), route(undefined), NOW)).not.toThrow();
  });

  it('STEP-1 (a) accepts an acr from the list, compared exactly', () => {
    expect(() => checkStepUp(token({ acr: 'urn:bank:sca' }), route({ acrValues: ['urn:bank:high', 'urn:bank:sca'] }), NOW)).not.toThrow();
    for (const acr of ['URN:BANK:SCA', 'urn:bank:sca ', 'urn:bank', undefined]) {
      expect(refusal(token({ acr }), route({ acrValues: ['urn:bank:sca'] })).code, String(acr)).toBe('GW_STEP_UP_REQUIRED');
    }
  });

  it('STEP-3 the refusal is 401 insufficient_user_authentication with acr_values in preference order', () => {
    const e = refusal(token({ acr: 'low' }), route({ acrValues: ['high', 'sca'] }));
    expect(e.status).toBe(401);
    expect(e.entry.error).toBe('insufficient_user_authentication');
    expect(e.params).toEqual({ acr_values: 'high sca' });
    expect(e.message).toBe('STEP-2 acr "low" not accepted');
  });

  it('STEP-1 (b) / STEP-2 auth_time within max_age plus leeway; missing or older -> 401 with max_age', () => {
    const r = route({ maxAgeS: 300, leewayS: 10 });
    expect(() => checkStepUp(token({ authTime: NOW - 300 }), r, NOW)).not.toThrow();
    expect(() => checkStepUp(token({ authTime: NOW - 310 }), r, NOW)).not.toThrow();
    const old = refusal(token({ authTime: NOW - 311 }), r);
    expect(old.params).toEqual({ max_age: '300' });
    expect(old.message).toBe('STEP-2 auth_time 311 s ago');
    expect(refusal(token({}), r).message).toBe('STEP-2 no auth_time');
  });

  it('STEP-1 (b): an auth_time in the future beyond the leeway is not met (found in review: it met any max_age)', () => {
    const r = route({ maxAgeS: 300, leewayS: 10 });
    expect(() => checkStepUp(token({ authTime: NOW + 10 }), r, NOW)).not.toThrow();
    const future = refusal(token({ authTime: NOW + 3600 }), r);
    expect(future.params).toEqual({ max_age: '300' });
    expect(future.message).toBe('STEP-2 auth_time 3600 s in the future');
  });

  it('STEP-3 both rules: the challenge names both, the log says which failed', () => {
    const e = refusal(token({ acr: 'sca', authTime: NOW - 4000 }), route({ acrValues: ['sca'], maxAgeS: 60 }));
    expect(e.params).toEqual({ acr_values: 'sca', max_age: '60' });
    expect(e.message).toBe('STEP-2 auth_time 4000 s ago');
    expect(() => checkStepUp(token({ acr: 'sca', authTime: NOW - 30 }), route({ acrValues: ['sca'], maxAgeS: 60 }), NOW)).not.toThrow();
  });

  it('STEP-5 a client-credentials token (no sub, or sub = client_id) -> 403 insufficient_scope', () => {
    for (const t of [token({ subject: 'client-1', acr: 'sca' }), token({ subject: undefined, acr: 'sca' })]) {
      const e = refusal(t, route({ acrValues: ['sca'] }));
      expect(e.code).toBe('GW_STEP_UP_NO_USER');
      expect(e.status).toBe(403);
      expect(e.entry.error).toBe('insufficient_scope');
    }
  });
});
