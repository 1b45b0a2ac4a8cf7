// DPoP `htu` normalisation (DPOP-10, RFC 3986 §6.2.2-6.2.3). Hand-written because WHATWG `URL`
// keeps userinfo, does not normalise percent-encoding and silently repairs malformed input.
import { GatewayError } from '../errors/gateway-error.js';
import { IP_LITERAL_RE, REG_NAME_RE } from '../uri-host.js';

// RFC 3986 §3 shape of an absolute URI with an authority: scheme "://" authority path [?query] [#fragment].
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
// pchar / "/" including "%" (escapes are checked separately).
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
// query / fragment: pchar / "/" / "?".
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443' };

/** Upper-cases escape hex and decodes escaped unreserved characters; undefined on a broken escape. */
function normalisePercent(s: string): string | undefined {
  if (!s.includes('%')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = s.slice(i + 1, i + 3);
    if (!HEX2.test(hex)) return undefined;
    const ch = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, for an absolute path. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  // segments[0] is '' because the path starts with '/'.
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

function normaliseAuthority(scheme: string, authority: string): string | undefined {
  // Userinfo is refused, not stripped (RFC 9110 §4.2.4).
  if (authority.includes('@')) return undefined;
  let host: string;
  let port: string | undefined;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end === -1) return undefined;
    host = authority.slice(0, end + 1);
    const rest = authority.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      port = rest.slice(1);
    }
    if (!IP_LITERAL_RE.test(host)) return undefined;
    host = host.toLowerCase();
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon === -1 ? authority : authority.slice(0, colon);
    port = colon === -1 ? undefined : authority.slice(colon + 1);
    if (!REG_NAME_RE.test(host)) return undefined;
    // Decode escaped unreserved characters first (`ex%41mple` is `example`), then lower-case all but
    // the remaining escapes, whose hex stays upper-case.
    const h = normalisePercent(host);
    if (h === undefined) return undefined;
    host = h.replace(/%[0-9A-F]{2}|[^%]+/g, (m) => (m.startsWith('%') ? m : m.toLowerCase()));
  }
  if (port !== undefined && port !== '') {
    if (!/^\d{1,5}$/.test(port)) return undefined;
    const n = Number(port);
    if (n > 65535) return undefined;
    port = String(n);
  }
  // An empty port or the scheme's default port is dropped (§6.2.3).
  return port === undefined || port === '' || port === DEFAULT_PORT[scheme] ? host : `${host}:${port}`;
}

/**
 * Normalised form of an absolute http(s) URI without query and fragment, or undefined when the value
 * is not one (relative, other scheme, userinfo, bad characters or escapes).
 */
export function normalizeHtu(value: string): string | undefined {
  const m = ABSOLUTE.exec(value);
  if (m === null) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'https' && scheme !== 'http') return undefined;
  const rawPath = m[3] as string;
  if (!PATH_CHARS.test(rawPath)) return undefined;
  // Query and fragment are dropped, but must still be URI characters.
  if (m[4] !== undefined && !QUERY_CHARS.test(m[4])) return undefined;
  if (m[5] !== undefined && !QUERY_CHARS.test(m[5])) return undefined;
  const authority = normaliseAuthority(scheme, m[2] as string);
  if (authority === undefined) return undefined;
  const decoded = normalisePercent(rawPath);
  if (decoded === undefined) return undefined;
  const path = decoded === '' ? '/' : removeDotSegments(decoded);
  return `${scheme}://${authority}${path}`;
}

/**
 * The URL a proof's `htu` must match: the configured public origin plus the gateway's normalised
 * request path (never Host or X-Forwarded-*). A bad origin is a configuration bug, hence GW_INTERNAL.
 */
export function expectedHtu(publicOrigin: string, path: string): string {
  const origin = publicOrigin.endsWith('/') ? publicOrigin.slice(0, -1) : publicOrigin;
  const htu = normalizeHtu(origin + path);
  if (htu === undefined) throw new GatewayError('GW_INTERNAL', 'DPOP-10 public origin plus path is not an absolute http(s) URI');
  return htu;
}
