import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig, referencedFiles } from '../../../src/config/load.js';
import { compileRouteTable } from '../../../src/route/table.js';

const base = () => ({
  server: {
    listen: '127.0.0.1:0',
    public_origin: 'https://api.test',
    tls: { cert_file: 's.crt', key_file: 's.key' },
  },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [
    {
      id: 'accounts',
      match: { methods: ['GET'], path_prefix: '/accounts' },
      auth: { issuers: ['as'], audience: 'https://api.test' },
      upstream: { url: 'http://127.0.0.1:1' },
    },
  ] as Record<string, unknown>[],
});

const issuesOf = (text: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('config was accepted');
};

describe('config loading', () => {
  it('accepts the commented example in config/ and fills defaults', () => {
    const loaded = loadConfigFile(new URL('../../../config/example.yaml', import.meta.url).pathname);
    expect(loaded.config.server.limits.max_header_bytes).toBe(16384);
    expect(loaded.config.routes.map((r) => r.id)).toEqual(['accounts-read', 'payments-create']);
    expect(compileRouteTable(loaded).routes).toHaveLength(2);
  });
  it('freezes the result', () => {
    const loaded = parseConfig(stringify(base()), 'x.yaml', {});
    expect(Object.isFrozen(loaded.config.routes[0]?.auth)).toBe(true);
    expect(() => {
      (loaded.config.server as { listen: string }).listen = 'x';
    }).toThrow();
  });
  it('refuses unknown keys, naming the key path and line', () => {
    const text = readFileSync(new URL('../../../config/example.yaml', import.meta.url), 'utf8').replace('  interaction_id: lenient', '  interaction_idd: lenient');
    const [issue] = issuesOf(text);
    expect(issue?.path).toBe('server');
    expect(issue?.message).toContain('interaction_idd');
    // The unknown key's own line (found in the newcomer walk-through: it was the map's first key's).
    expect(issue?.line).toBe(text.split('\n').findIndex((l) => l.includes('interaction_idd')) + 1);
    const clean = text.replace('interaction_idd', 'interaction_id').trimEnd();
    const root = issuesOf(`${clean}\nextra_section: {}\n`);
    expect(root[0]).toMatchObject({ path: '', message: 'unknown key(s): extra_section', line: clean.split('\n').length + 1 });
  });
  it('names the line of a value, and of a nested section by its key', () => {
    const lines = ['server:', '  listen: 127.0.0.1:0', '  public_origin: https://api.test', '  tls:', '    cert_file: a.crt', '    key_file: a.key', '  limits:', '    max_header_bytes: -1'];
    const [issue] = issuesOf(lines.join('\n'));
    expect(issue).toMatchObject({ path: 'server.limits.max_header_bytes', line: 8 });
  });
  it('ERR-6: a realm that could not be a quoted string is refused saying why, not with the bare pattern', () => {
    const c = base();
    (c.server as Record<string, unknown>).realm = 'bank "api"';
    expect(issuesOf(stringify(c))).toEqual([expect.objectContaining({ path: 'server.realm', message: expect.stringContaining('printable ASCII without " or \\') })]);
  });
  it('names the path of a bad value', () => {
    const c = base();
    (c.routes[0] as { upstream: { url: string } }).upstream.url = 'ftp://x';
    const issues = issuesOf(stringify(c));
    expect(issues.map((i) => i.path)).toContain('routes[0].upstream.url');
    expect(issues[0]?.line).toBeTypeOf('number');
  });
  it('MTLS-5: refuses a catch-all trusted_peers range (any client could supply the certificate header)', () => {
    const peers = (trusted_peers: string[]) => ({ ...base(), server: { ...base().server, forwarded_client_cert: { header: 'client-cert', trusted_peers } } });
    for (const range of ['0.0.0.0/0', '::/0', '10.0.0.0/8', '127.0.0.1']) {
      if (range.endsWith('/0')) {
        expect(issuesOf(stringify(peers(['127.0.0.1', range])))[0]).toMatchObject({ path: 'server.forwarded_client_cert.trusted_peers[1]' });
        expect(issuesOf(stringify(peers([range])))[0]?.message).toContain('trusts every client');
      } else {
        expect(() => parseConfig(stringify(peers([range])), 'x.yaml', {})).not.toThrow();
      }
    }
  });
  it('refuses what validation let through and start-up or the upstream then tripped over (found in review)', () => {
    const port = base();
    port.server.listen = '127.0.0.1:70000';
    expect(issuesOf(stringify(port))[0]).toMatchObject({ path: 'server.listen', message: 'port must be 0..65535' });
    const creds = base();
    (creds.routes[0] as { upstream: { url: string } }).upstream.url = 'http://svc:Sup3rS3cret@127.0.0.1:8080';
    const credIssues = issuesOf(stringify(creds));
    expect(credIssues[0]).toMatchObject({ path: 'routes[0].upstream.url', message: 'no user:password@ in the url' });
    expect(JSON.stringify(credIssues)).not.toContain('Sup3rS3cret');
    const nonce = { ...base(), dpop: { nonce: { secret_env: 'NONCE', step_s: 600, window_s: 300 } } };
    expect(issuesOf(stringify(nonce), { NONCE: 'x'.repeat(64) })[0]).toMatchObject({ path: 'dpop.nonce.window_s', message: expect.stringMatching(/^window_s must be at least 2 x step_s/) });
    const twice = { ...base(), identity_headers: { subject: 'x-user', client_id: 'x-user' } };
    expect(issuesOf(stringify(twice))[0]).toMatchObject({ path: 'identity_headers.client_id', message: 'x-user is already the subject header' });
    for (const name of ['content-length', 'host', 'authorization', 'x-forwarded-for', 'x-fapi-interaction-id']) {
      const reserved = { ...base(), identity_headers: { subject: name } };
      expect(issuesOf(stringify(reserved))[0], name).toMatchObject({ path: 'identity_headers.subject' });
    }
    expect(() => parseConfig(stringify({ ...base(), identity_headers: { subject: 'x-user' } }), 'x.yaml', {})).not.toThrow();
  });
  it('refuses upstream.ca_file on an http:// upstream (it would be ignored)', () => {
    const c = base();
    (c.routes[0] as { upstream: Record<string, string> }).upstream.ca_file = 'ca.pem';
    expect(issuesOf(stringify(c))[0]).toMatchObject({ path: 'routes[0].upstream.ca_file', message: 'ca_file needs an https:// url' });
    (c.routes[0] as { upstream: Record<string, string> }).upstream.url = 'https://legacy.internal';
    expect(() => parseConfig(stringify(c), 'test.yaml', {})).not.toThrow();
  });
  it('refuses a route that names an unknown issuer', () => {
    const c = base();
    (c.routes[0] as { auth: { issuers: string[] } }).auth.issuers = ['nope'];
    expect(issuesOf(stringify(c))[0]).toMatchObject({ path: 'routes[0].auth.issuers[0]', message: 'unknown issuer nope' });
  });
  it('Q-6: refuses an RS256 issuer on a FAPI route, allows it on a non-fapi route', () => {
    const c = base();
    c.issuers.as = { ...c.issuers.as, algorithms: ['RS256', 'PS256'] } as typeof c.issuers.as;
    expect(issuesOf(stringify(c))[0]?.message).toContain('RS256');
    (c.routes[0] as { profile?: string }).profile = 'non-fapi';
    expect(() => parseConfig(stringify(c), 'x.yaml', {})).not.toThrow();
  });
  it('TOK-1: binding none is only allowed on non-fapi routes', () => {
    const c = base();
    (c.routes[0] as { auth: { binding?: string } }).auth.binding = 'none';
    expect(issuesOf(stringify(c))[0]?.path).toBe('routes[0].auth.binding');
  });
  it('MTLS-6: fapi1-advanced routes accept only mtls', () => {
    const c = base();
    Object.assign(c.routes[0] as object, { profile: 'fapi1-advanced' });
    expect(issuesOf(stringify(c)).map((i) => i.path)).toContain('routes[0].auth.binding');
  });
  it('resolves secrets by env-var reference and names a missing one', () => {
    const c = { ...base(), replay: { store: 'redis', redis: { url_env: 'MY_REDIS' } } };
    expect(issuesOf(stringify(c))[0]).toMatchObject({ path: 'replay.redis.url_env', message: 'environment variable MY_REDIS is not set' });
    const loaded = parseConfig(stringify(c), 'x.yaml', { MY_REDIS: 'redis://127.0.0.1:6379' });
    expect(loaded.secrets.redisUrl).toBe('redis://127.0.0.1:6379');
  });
  it('JWT-8: clock leeway is capped at 60 s, DPOP-11: iat future window at 60 s', () => {
    const c = base();
    c.issuers.as = { ...c.issuers.as, clock_leeway_s: 61 } as typeof c.issuers.as;
    expect(issuesOf(stringify(c))[0]?.path).toBe('issuers.as.clock_leeway_s');
    expect(issuesOf(stringify({ ...base(), dpop: { iat_future_s: 61 } }))[0]?.path).toBe('dpop.iat_future_s');
  });
  it('refuses YAML syntax errors with a line', () => {
    const issues = issuesOf('server:\n  listen: [\n');
    expect(issues[0]?.line).toBeTypeOf('number');
  });
  it('refuses an http issuer (TLS-11) and a public_origin with a path', () => {
    const c = base();
    c.issuers.as = { issuer: 'http://as.test', jwks_uri: 'https://as.test/jwks' };
    expect(issuesOf(stringify(c))[0]?.path).toBe('issuers.as.issuer');
    const d = base();
    d.server.public_origin = 'https://api.test/base';
    expect(issuesOf(stringify(d))[0]?.path).toBe('server.public_origin');
  });
});

describe('route table', () => {
  const withRoutes = (...routes: Record<string, unknown>[]) => {
    const c = base();
    c.routes = routes.map((r, i) => ({ ...(base().routes[0] as object), id: `r${i}`, ...r }));
    return parseConfig(stringify(c), 'x.yaml', {});
  };
  it('matches on method, segment-bounded prefix, exact path and host', () => {
    const t = compileRouteTable(
      withRoutes(
        { match: { methods: ['GET'], path_prefix: '/accounts' } },
        { match: { methods: ['POST'], path: '/payments' } },
        { match: { methods: ['GET'], path_prefix: '/cards', host: 'api.test' } },
      ),
    );
    expect(t.match('GET', '/accounts', 'x')?.id).toBe('r0');
    expect(t.match('GET', '/accounts/1/balances', 'x')?.id).toBe('r0');
    expect(t.match('GET', '/accountsX', 'x')).toBeUndefined();
    expect(t.match('POST', '/accounts', 'x')).toBeUndefined();
    expect(t.match('POST', '/payments', 'x')?.id).toBe('r1');
    expect(t.match('POST', '/payments/1', 'x')).toBeUndefined();
    expect(t.match('GET', '/cards/1', 'api.test')?.id).toBe('r2');
    expect(t.match('GET', '/cards/1', 'other.test')).toBeUndefined();
  });
  it('refuses overlapping routes at load', () => {
    const loaded = withRoutes({ match: { methods: ['GET'], path_prefix: '/accounts' } }, { match: { methods: ['GET', 'POST'], path: '/accounts/admin' } });
    expect(() => compileRouteTable(loaded)).toThrow(/overlaps route r0/);
    const nested = withRoutes({ match: { methods: ['GET'], path_prefix: '/a' } }, { match: { methods: ['GET'], path_prefix: '/a/b' } });
    expect(() => compileRouteTable(nested)).toThrow(ConfigError);
  });
  it('allows same paths on disjoint methods or hosts', () => {
    const loaded = withRoutes(
      { match: { methods: ['GET'], path_prefix: '/accounts' } },
      { match: { methods: ['POST'], path_prefix: '/accounts' } },
      { match: { methods: ['GET'], path_prefix: '/x', host: 'a.test' } },
      { match: { methods: ['GET'], path_prefix: '/x', host: 'b.test' } },
    );
    expect(compileRouteTable(loaded).routes).toHaveLength(4);
  });
});

describe('config/schema.json (editor completion)', () => {
  it('is generated from the same zod schema the loader uses (regenerate: fapi-gateway schema > config/schema.json)', async () => {
    const { z } = await import('zod');
    const { configSchema } = await import('../../../src/config/schema.js');
    const committed = JSON.parse(readFileSync(new URL('../../../config/schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }))));
  });
});

describe('referencedFiles (watched with the config, for certificate rotation)', () => {
  it('lists every *_file the config names, resolved against the config directory, once each', () => {
    const c = base() as Record<string, any>;
    c.server.tls = { cert_file: 'tls/tls.crt', key_file: 'tls/tls.key', client_ca_file: '/etc/ca/clients.pem' };
    c.issuers.as.ca_file = '/etc/ca/clients.pem';
    c.issuers.as.introspection = { client_id: 'gw', auth: 'tls_client_auth', cert_file: 'as/client.crt', key_file: 'as/client.key' };
    const loaded = parseConfig(stringify(c), '/srv/gw/config.yaml', {});
    expect(referencedFiles(loaded).sort()).toEqual(['/etc/ca/clients.pem', '/srv/gw/as/client.crt', '/srv/gw/as/client.key', '/srv/gw/tls/tls.crt', '/srv/gw/tls/tls.key']);
  });
});
