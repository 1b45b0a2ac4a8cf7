// Normalises the request-target once. The result is what routes match and what the upstream receives,
// so nothing downstream can see a different path than the one authorised.

export type NormalisedTarget =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// pchar without '%' (RFC 3986 §3.3), plus '/'.
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/**
 * - origin-form only (absolute-form, authority-form and `*` are refused);
 * - percent-encoding: hex upper-cased, unreserved characters decoded (so `%2e%2e` is `..`);
 * - encoded `/`, `\` and control characters, raw `\`, and invalid escapes are refused;
 * - `.` segments are removed; any `..` segment (also `..;param`) is refused rather than resolved;
 * - the query is kept as sent, but a fragment (`#`, which origin-form has no place for and Node passes
 *   through) is refused, as it is in the path: it must never reach the upstream's request line.
 */
export function normaliseTarget(target: string): NormalisedTarget {
  if (!target.startsWith('/')) return { ok: false, reason: 'request-target is not origin-form' };
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (!PATH_CHAR.test(rawPath)) return { ok: false, reason: 'path has characters outside RFC 3986 pchar' };
  if (query.includes('#')) return { ok: false, reason: 'request-target has a fragment' };
  // Nothing to decode and no segment starting with a dot: already in normal form (the usual request).
  if (!rawPath.includes('%') && !rawPath.includes('/.')) return { ok: true, path: rawPath, query };
  let path = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath[i];
    if (c !== '%') {
      path += c;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: 'invalid percent-encoding' };
    const code = parseInt(hex, 16);
    const ch = String.fromCharCode(code);
    if (code < 0x20 || code === 0x7f || ch === '/' || ch === '\\') {
      return { ok: false, reason: `encoded ${code < 0x20 || code === 0x7f ? 'control character' : ch} in path` };
    }
    path += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    // `..;x` is `..` to Tomcat/Spring (path parameters): as ambiguous as `..` itself.
    const bare = s.split(';', 1)[0];
    if (bare === '..') return { ok: false, reason: 'dot-dot segment in path' };
    if (bare === '.' && s !== '.') return { ok: false, reason: 'dot segment with path parameters' };
    if (s === '.') {
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return { ok: true, path: `/${out.join('/')}`, query };
}
