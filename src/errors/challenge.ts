// Renders WWW-Authenticate challenges per RFC 6750 §3 and RFC 9449 §7.1/§7.2.
import type { AuthScheme } from '../types.js';
import type { GatewayError } from './gateway-error.js';

export interface ChallengeContext {
  /** Schemes the route offers, in order (ERR-7: only these are listed, and Bearer when it was used: Q-5). */
  readonly schemes: readonly AuthScheme[];
  /** Scheme of the single Authorization header, when there was exactly one. */
  readonly used: AuthScheme | undefined;
  readonly realm: string;
  /** DPoP `algs` (DPOP-29). */
  readonly dpopAlgs: readonly string[];
  /** PRM-5: the route's RFC 9728 metadata URL, added to 401 challenges. */
  readonly resourceMetadata?: string;
}

const SCHEME_NAME: Readonly<Record<AuthScheme, string>> = { bearer: 'Bearer', dpop: 'DPoP' };

/** ERR-6: quoted values may only hold %x20-21 / %x23-5B / %x5D-7E. Anything else is dropped. */
export function quote(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;
}

function challenge(scheme: AuthScheme, ctx: ChallengeContext, errorParams: readonly [string, string][], status: number): string {
  const params: [string, string][] = [['realm', ctx.realm], ...errorParams];
  if (scheme === 'dpop') params.push(['algs', ctx.dpopAlgs.join(' ')]);
  if (status === 401 && ctx.resourceMetadata !== undefined) params.push(['resource_metadata', ctx.resourceMetadata]);
  return `${SCHEME_NAME[scheme]} ${params.map(([k, v]) => `${k}=${quote(v)}`).join(', ')}`;
}

/** One value per offered scheme (ERR-9: one line per scheme). Empty when the code carries none. */
export function buildChallenges(err: GatewayError, ctx: ChallengeContext): string[] {
  const target = err.entry.challenge;
  if (target === 'none' || ctx.schemes.length === 0) return [];
  const errorParams: [string, string][] =
    target === 'bare'
      ? []
      : [['error', err.entry.error], ['error_description', err.entry.description], ...Object.entries(err.params)];
  // The error goes on the scheme used. Bearer carries it even on a DPoP-only route, beside a bare
  // `DPoP algs` (M4, M5, DPOP-17, Q-5); any other scheme the route does not offer is not listed (ERR-7)
  // and the error goes on what is offered, as it does when no single scheme was used.
  const used = target === 'used' ? ctx.used : undefined;
  const schemes = used === 'bearer' && !ctx.schemes.includes(used) ? (['bearer', ...ctx.schemes] as const) : ctx.schemes;
  const carriesError = (s: AuthScheme): boolean =>
    target === 'all' || (target === 'used' && (used === undefined || !schemes.includes(used) || used === s));
  return schemes.map((s) => challenge(s, ctx, carriesError(s) ? errorParams : [], err.status));
}
