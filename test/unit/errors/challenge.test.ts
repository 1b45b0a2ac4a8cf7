import { describe, expect, it } from 'vitest';
import { buildChallenges, quote, type ChallengeContext } from '../../../src/errors/challenge.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';

const ctx = (over: Partial<ChallengeContext> = {}): ChallengeContext => ({
  schemes: ['bearer', 'dpop'],
  used: undefined,
  realm: 'api.test',
  dpopAlgs: ['PS256', 'ES256', 'EdDSA', 'Ed25519'],
  ...over,
});

describe('WWW-Authenticate rendering (ERR-*)', () => {
  it('ERR-1 / M1: no credentials -> bare challenges for every offered scheme, no error', () => {
    const c = buildChallenges(new GatewayError('GW_NO_CREDENTIALS', 'x'), ctx());
    expect(c).toEqual(['Bearer realm="api.test"', 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
    expect(c.join()).not.toContain('error');
  });
  it('ERR-7 / Q-5: the error goes on the scheme used, the other stays bare', () => {
    const c = buildChallenges(new GatewayError('GW_DPOP_BOUND_AS_BEARER', 'x'), ctx({ used: 'bearer' }));
    expect(c[0]).toMatch(/^Bearer realm="api.test", error="invalid_token", error_description="[^"]+"$/);
    expect(c[1]).toBe('DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"');
  });
  it('ERR-7 / M12: an ambiguous request puts invalid_request on both challenges', () => {
    const c = buildChallenges(new GatewayError('GW_MULTIPLE_CREDENTIALS', 'x'), ctx({ used: undefined }));
    expect(c).toHaveLength(2);
    for (const v of c) expect(v).toContain('error="invalid_request"');
  });
  it('DPOP-29: every DPoP challenge carries algs, with or without error', () => {
    const c = buildChallenges(new GatewayError('GW_DPOP_PROOF_INVALID', 'x'), ctx({ used: 'dpop', schemes: ['dpop'] }));
    expect(c).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_dpop_proof", error_description="[^"]+", algs="PS256 ES256 EdDSA Ed25519"$/)]);
  });
  it('ERR-4: insufficient_scope carries scope=', () => {
    const c = buildChallenges(new GatewayError('GW_INSUFFICIENT_SCOPE', 'x', { params: { scope: 'accounts payments' } }), ctx({ used: 'bearer', schemes: ['bearer'] }));
    expect(c[0]).toContain('error="insufficient_scope"');
    expect(c[0]).toContain('scope="accounts payments"');
  });
  it('ERR-7: only schemes the route offers are listed; an unoffered scheme used puts the error on what is offered', () => {
    const c = buildChallenges(new GatewayError('GW_DPOP_SCHEME_UNBOUND', 'x'), ctx({ used: 'dpop', schemes: ['bearer'] }));
    expect(c).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token"/)]);
  });
  it('M4, M5, DPOP-17, Q-5: Bearer used on a DPoP-only route carries the error; DPoP stays bare with algs', () => {
    const down = buildChallenges(new GatewayError('GW_DPOP_BOUND_AS_BEARER', 'x'), ctx({ used: 'bearer', schemes: ['dpop'] }));
    expect(down).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_token", error_description="[^"]+"$/), 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
    const both = buildChallenges(new GatewayError('GW_BEARER_WITH_DPOP_PROOF', 'x'), ctx({ used: 'bearer', schemes: ['dpop'] }));
    expect(both).toEqual([expect.stringMatching(/^Bearer realm="api.test", error="invalid_request"/), 'DPoP realm="api.test", algs="PS256 ES256 EdDSA Ed25519"']);
  });
  it('E9: 503 and hygiene errors carry no challenge', () => {
    expect(buildChallenges(new GatewayError('GW_JWKS_UNAVAILABLE', 'x'), ctx())).toEqual([]);
    expect(buildChallenges(new GatewayError('GW_ROUTE_NOT_FOUND', 'x'), ctx())).toEqual([]);
  });
  it('ERR-6: quoting drops characters that would break the header', () => {
    expect(quote('a"b\\c\u00e9\r\nd')).toBe('"abcd"');
  });
});
