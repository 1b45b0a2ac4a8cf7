// A minimal valid config as YAML text, for load-time validation tests: one issuer and one route. Each
// option adds flow-style members to its mapping, e.g. { server: 'limits: { max_body_bytes: 0 }' }.
export interface OneRouteConfig {
  readonly server?: string;
  readonly methods?: string;
  readonly auth?: string;
  readonly upstream?: string;
  /** Members of the route itself, e.g. `cors: { ... }`. */
  readonly route?: string;
}

const more = (members: string | undefined): string => (members === undefined ? '' : `, ${members}`);

export function oneRouteConfig(o: OneRouteConfig = {}): string {
  return `
server: { listen: "127.0.0.1:0", public_origin: "https://api.test", tls: { cert_file: a, key_file: b }${more(o.server)} }
issuers: { main: { issuer: "https://as.test", jwks_uri: "https://as.test/jwks" } }
routes:
  - id: r
    match: { methods: [${o.methods ?? 'GET'}], path_prefix: /x }
    auth: { issuers: [main], audience: "https://api.test"${more(o.auth)} }
    upstream: { url: "http://127.0.0.1:1"${more(o.upstream)} }
${o.route === undefined ? '' : `    ${o.route}\n`}`;
}
