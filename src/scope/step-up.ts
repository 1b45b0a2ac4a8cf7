// STEP-1..STEP-5 (RFC 9470): the route's step-up rule against the token's `acr` and `auth_time`.
// Checked after the scopes: a token lacking a scope gets insufficient_scope first.
import { GatewayError } from '../errors/gateway-error.js';
import type { Route, TokenClaims } from '../types.js';

export function checkStepUp(claims: TokenClaims, route: Route, nowS: number): void {
  const rule = route.stepUp;
  if (rule === undefined) return;
  // STEP-5: a client-credentials token (no user, or the client as its own subject) cannot step up.
  if (claims.subject === undefined || claims.subject === claims.clientId) {
    throw new GatewayError('GW_STEP_UP_NO_USER', 'STEP-5 step-up route, token has no end user (client credentials)');
  }
  const missing: string[] = [];
  // STEP-2: a missing acr or auth_time counts as "not met".
  if (rule.acrValues.length > 0 && (claims.acr === undefined || !rule.acrValues.includes(claims.acr))) {
    missing.push(claims.acr === undefined ? 'no acr' : `acr ${JSON.stringify(claims.acr).slice(0, 80)} not accepted`);
  }
  if (rule.maxAgeS !== undefined) {
    const t = claims.authTime;
    if (t === undefined) missing.push('no auth_time');
    else if (t + rule.maxAgeS < nowS - rule.leewayS) missing.push(`auth_time ${Math.round(nowS - t)} s ago`);
    // A user authenticated in the future is not a recent authentication: it would meet any max_age.
    else if (t > nowS + rule.leewayS) missing.push(`auth_time ${Math.round(t - nowS)} s in the future`);
  }
  if (missing.length === 0) return;
  // STEP-3: advertise the whole requirement on the scheme used.
  const params: Record<string, string> = {};
  if (rule.acrValues.length > 0) params.acr_values = rule.acrValues.join(' ');
  if (rule.maxAgeS !== undefined) params.max_age = String(rule.maxAgeS);
  throw new GatewayError('GW_STEP_UP_REQUIRED', `STEP-2 ${missing.join(', ')}`, { params });
}
