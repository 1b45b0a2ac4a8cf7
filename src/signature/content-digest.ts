// RFC 9530 Content-Digest, recomputed over the bytes received (SIG-6): sha-256 and sha-512 are checked,
// other algorithms ignored; at least one of the two must be there, and every one there must match.
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDictionary } from 'structured-headers';
import { GatewayError } from '../errors/gateway-error.js';

const ALGORITHMS = { 'sha-256': 'sha256', 'sha-512': 'sha512' } as const;

const invalid = (detail: string): GatewayError => new GatewayError('GW_HTTP_SIG_INVALID', detail);

/** Throws unless `header` (all Content-Digest field lines, joined) matches `body`. */
export function checkContentDigest(header: string | undefined, body: Buffer): void {
  if (header === undefined) throw invalid('SIG-6 the request has a body and no Content-Digest');
  let members;
  try {
    members = parseDictionary(header);
  } catch {
    throw invalid('SIG-6 Content-Digest is not a structured-field dictionary (RFC 9530 §2)');
  }
  let checked = 0;
  for (const [name, hash] of Object.entries(ALGORITHMS)) {
    const member = members.get(name);
    if (member === undefined) continue;
    const value = member[0];
    if (!(value instanceof ArrayBuffer)) throw invalid(`SIG-6 Content-Digest ${name} is not a byte sequence`);
    const expected = createHash(hash).update(body).digest();
    const sent = Buffer.from(value);
    if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) throw invalid(`SIG-6 Content-Digest ${name} does not match the body received`);
    checked++;
  }
  if (checked === 0) throw invalid('SIG-6 Content-Digest has neither sha-256 nor sha-512');
}
