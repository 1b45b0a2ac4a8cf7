// Header fields as received, one name at a time. req.headersDistinct would answer the same, but builds an
// object of arrays for every field of every request on first use; the hot path reads four names.
import type { IncomingMessage } from 'node:http';

/** Every value of the field `name` (lowercase), in order, or undefined when absent: headersDistinct[name]. */
export function fieldValues(req: IncomingMessage, name: string): string[] | undefined {
  const raw = req.rawHeaders;
  let out: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === name.length && (n === name || n.toLowerCase() === name)) (out ??= []).push(raw[i + 1] as string);
  }
  return out;
}
