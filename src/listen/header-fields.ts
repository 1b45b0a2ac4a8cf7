// Header fields as received, one name at a time. req.headersDistinct would answer the same, but builds an
// object of arrays for every field of every request on first use; the hot path reads four names.
import type { IncomingMessage } from 'node:http';

/** Every value of the field `name` (lowercase), in order, or undefined when absent: headersDistinct[name]. */
export function fieldValues(req: IncomingMessage, name: string): string[] | undefined {
  const raw = req.rawHeaders;
  let out: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === name.length && (n === name || sameIgnoringAsciiCase(n, name))) (out ??= []).push(raw[i + 1] as string);
  }
  return out;
}

/**
 * `n.toLowerCase() === lower` for a field name and a lowercase name of the same length, without a new
 * string per field (a few per request). Only A-Z fold; every other character must match exactly.
 */
function sameIgnoringAsciiCase(n: string, lower: string): boolean {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && (c < 0x41 || c > 0x5a || (c | 0x20) !== l)) return false;
  }
  return true;
}
