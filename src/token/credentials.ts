// Credential extraction (CRED-1..CRED-8, DPOP-15, DPOP-18): one credential, Authorization header only.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';
import { fieldValues } from '../listen/header-fields.js';
import { queryHas } from '../route/query.js';
import type { AuthScheme, Credentials } from '../types.js';
import { sha256Hex } from './jwt-validator.js';

// RFC 9110 §11.2 token68, with the RFC 6750 b64token alphabet.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
// A Map, not an object literal: `constructor` or `__proto__` must not resolve to a scheme.
const SCHEMES: ReadonlyMap<string, AuthScheme> = new Map([
  ['bearer', 'bearer'],
  ['dpop', 'dpop'],
]);

export interface ParsedAuthorization {
  /** undefined when the scheme is not one we accept (CRED-7: treated as no credentials). */
  readonly scheme: AuthScheme | undefined;
  readonly token: string | undefined;
}

/** `scheme 1*SP token68`, scheme case-insensitive (CRED-2). Throws E2 on a malformed value of our schemes. */
export function parseAuthorization(value: string): ParsedAuthorization {
  const sp = value.indexOf(' ');
  const name = (sp === -1 ? value : value.slice(0, sp)).toLowerCase();
  const scheme = SCHEMES.get(name);
  if (scheme === undefined) {
    // `Bearer<TAB>token`: our scheme with the wrong separator is a malformed credential (and says so
    // in the log), not "no credentials".
    const tab = name.indexOf('\t');
    if (tab !== -1 && SCHEMES.has(name.slice(0, tab))) throw new GatewayError('GW_MALFORMED_AUTHORIZATION', `CRED-2 ${name.slice(0, tab)} scheme not followed by a space`);
    return { scheme: undefined, token: undefined };
  }
  const token = sp === -1 ? '' : value.slice(sp).replace(/^ +/, '');
  if (!TOKEN68.test(token)) {
    throw new GatewayError('GW_MALFORMED_AUTHORIZATION', `CRED-2 ${name} credential is not token68`);
  }
  return { scheme, token };
}

/** The scheme named by a request's Authorization header, for challenges, without validating the rest. */
export function schemeOf(req: IncomingMessage): AuthScheme | undefined {
  const values = fieldValues(req, 'authorization');
  if (values === undefined || values.length !== 1) return undefined;
  const v = values[0] as string;
  // A tab after the scheme is refused by parseAuthorization as that scheme's malformed credential: its
  // error goes on that scheme's challenge.
  const end = v.search(/[ \t]/);
  return SCHEMES.get((end === -1 ? v : v.slice(0, end)).toLowerCase());
}

/**
 * CRED-3/CRED-5: an access_token parameter as any upstream parser could read it: `;` as a separator
 * (Rack 2, Go, CGI.pm), PHP's and ASP.NET's spellings (`access.token`, `access_token[]`, `ACCESS_TOKEN`).
 */
function queryHasToken(query: string): boolean {
  return query !== '' && queryHas(query, 'access_token');
}

/** One accepted Authorization value: its scheme, token and the token's SHA-256 (the token cache key). */
interface AcceptedAuthorization {
  readonly value: string;
  readonly scheme: AuthScheme;
  readonly token: string;
  readonly tokenSha256: string;
}

// Remembered per connection: a keep-alive client sends the same Authorization value until the token
// expires, and comparing ~1 KB is cheaper than the token68 scan, the slicing and the hash again.
const lastAuthorization = new WeakMap<object, AcceptedAuthorization>();

/** parseAuthorization plus the token hash, or the connection's previous answer for the same value. */
export function acceptedAuthorization(connection: object | undefined, value: string): AcceptedAuthorization {
  const last = connection === undefined ? undefined : lastAuthorization.get(connection);
  if (last !== undefined && last.value === value) return last;
  const { scheme, token } = parseAuthorization(value);
  if (scheme === undefined || token === undefined) {
    throw new GatewayError('GW_NO_CREDENTIALS', 'CRED-7 unsupported Authorization scheme');
  }
  const accepted = { value, scheme, token, tokenSha256: sha256Hex(token) };
  if (connection !== undefined) lastAuthorization.set(connection, accepted);
  return accepted;
}

export function extractCredentials(req: IncomingMessage, query: string, maxBytes: number): Credentials {
  // Count raw fields: Node keeps only the first Authorization and joins DPoP with commas (CRED-5, DPOP-1).
  const auth = fieldValues(req, 'authorization') ?? [];
  const proofs = fieldValues(req, 'dpop') ?? [];
  // CRED-8 first (size limits are request hygiene, §2 step 2): an oversized field is refused whatever
  // else the request carries or lacks, so E1, CRED-3 and CRED-5 never answer for it.
  if (auth.some((v) => v.length > maxBytes) || proofs.some((p) => p.length > maxBytes)) {
    throw new GatewayError('GW_HEADERS_TOO_LARGE', `CRED-8 credential header over ${maxBytes} bytes`);
  }
  const inQuery = queryHasToken(query);
  if (auth.length > 1) throw new GatewayError('GW_MULTIPLE_CREDENTIALS', `CRED-5 ${auth.length} Authorization fields`);
  if (auth.length === 1 && inQuery) {
    throw new GatewayError('GW_MULTIPLE_CREDENTIALS', 'CRED-5 Authorization header and access_token query parameter');
  }
  if (inQuery) throw new GatewayError('GW_TOKEN_IN_QUERY', 'CRED-3 access_token in the query');
  const value = auth[0];
  if (value === undefined) throw new GatewayError('GW_NO_CREDENTIALS', 'E1 no Authorization header');
  const { scheme, token, tokenSha256 } = acceptedAuthorization(req.socket, value);
  if (scheme === 'bearer' && proofs.length > 0) {
    throw new GatewayError('GW_BEARER_WITH_DPOP_PROOF', 'DPOP-18 Bearer scheme with a DPoP header');
  }
  if (scheme === 'dpop' && proofs.length === 0) {
    throw new GatewayError('GW_DPOP_PROOF_MISSING', 'DPOP-15 DPoP scheme without a DPoP header');
  }
  return { scheme, token, tokenSha256, proofs };
}
