// The one place a gateway-made response is written (§3 error contract, ERR-10, HDR-1, HDR-6, HDR-14).
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { buildChallenges, type ChallengeContext } from './challenge.js';
import type { GatewayError } from './gateway-error.js';

/** `extra`: name/value pairs written last (the route's CORS headers, HDR-15). */
export function renderError(res: ServerResponse, err: GatewayError, ctx: ChallengeContext, interactionId: string, extra?: readonly string[]): void {
  if (res.headersSent) {
    // The upstream already started answering: the only honest signal left is to cut the stream.
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: err.entry.error, error_description: err.entry.description });
  // Drop anything a partial forward may have set, then write the contract headers.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = err.status;
  // A refused upstream head may have left its reason phrase (one Node would not write) behind.
  res.statusMessage = STATUS_CODES[err.status] ?? '';
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-fapi-interaction-id', interactionId);
  res.setHeader('content-length', Buffer.byteLength(body));
  const challenges = buildChallenges(err, ctx);
  if (challenges.length > 0) res.setHeader('www-authenticate', challenges);
  if (err.retryAfterS !== undefined) res.setHeader('retry-after', String(err.retryAfterS));
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) res.setHeader(extra[i] as string, extra[i + 1] as string);
  // HEAD: the headers of the answer, no body (Node refuses one: rejectNonStandardBodyWrites).
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
