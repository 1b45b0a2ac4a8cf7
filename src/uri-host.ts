// RFC 3986 §3.2.2 host grammar, one copy for the Host check (listen/request-facts) and DPoP htu
// normalisation (binding/htu). IP-literal is limited to IPv6 (no IPvFuture).

/** IP-literal: `[` IPv6 address `]` (characters only; the address itself is not parsed). */
const IP_LITERAL = String.raw`\[[0-9A-Fa-f:.]+\]`;
/** One reg-name character other than a percent escape: unreserved / sub-delims. */
const REG_NAME_CHAR = String.raw`[A-Za-z0-9\-._~!$&'()*+,;=]`;

export const IP_LITERAL_RE = new RegExp(`^${IP_LITERAL}$`);
/** reg-name, non-empty, with `%` allowed anywhere: escapes are checked by whoever decodes them. */
export const REG_NAME_RE = new RegExp(`^(?:${REG_NAME_CHAR}|%)+$`);
/**
 * RFC 9112 §3.2 Host: uri-host [":" port], escapes well-formed, any number of port digits. The host is
 * not empty: an https URI with an empty host is invalid (RFC 9110 §4.2.2).
 */
export const HOST_FIELD_RE = new RegExp(`^(?:${IP_LITERAL}|(?:${REG_NAME_CHAR}|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?$`);
