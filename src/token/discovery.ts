// Where an issuer's metadata lives: RFC 8414 §3 (well-known inserted before the issuer's path), then
// OpenID Connect Discovery (appended). Callers fetch them in this order and check metadata.issuer.
export function metadataUrls(issuer: string): readonly string[] {
  const iss = new URL(issuer);
  const path = iss.pathname === '/' ? '' : iss.pathname.replace(/\/$/, '');
  return [`${iss.origin}/.well-known/oauth-authorization-server${path}`, `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`];
}
