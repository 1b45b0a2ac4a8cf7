// The issuer keys for introspection (TOK-9, Q-3, INT-1, INT-6) and their load-time cross-checks.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

const base = (issuer: Record<string, unknown>, profile = 'fapi2') => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', ...issuer } },
  routes: [{ id: 'r', profile, match: { methods: ['GET'], path_prefix: '/' }, auth: { issuers: ['as'], audience: 'https://api.test' }, upstream: { url: 'http://127.0.0.1:1' } }],
});

const issues = (c: object, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseConfig(stringify(c), 'x.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
};

const pkjwt = { client_id: 'gw', auth: 'private_key_jwt', private_key_file: 'gw.key' };

describe('issuer token_format / revocation / introspection', () => {
  it('defaults: token_format jwt, revocation none; introspection defaults filled in', () => {
    const l = parseConfig(stringify(base({ introspection: pkjwt })), 'x.yaml', {});
    expect(l.config.issuers.as).toMatchObject({ token_format: 'jwt', revocation: 'none' });
    expect(l.config.issuers.as?.introspection).toEqual({
      ...pkjwt,
      require_audience: true,
      signed_response: false,
      timeout_ms: 2000,
      cache_max_s: 60,
      negative_cache_s: 10,
      cache_max_entries: 10000,
      max_in_flight: 64,
    });
  });
  it('TOK-9 token_format: opaque and Q-3 revocation: introspect need an introspection section', () => {
    expect(issues(base({ token_format: 'opaque' }))).toEqual(['issuers.as.token_format: token_format: opaque needs an introspection section']);
    expect(issues(base({ revocation: 'introspect' }))).toEqual(['issuers.as.revocation: revocation: introspect needs an introspection section']);
    expect(issues(base({ token_format: 'opaque', revocation: 'introspect', introspection: pkjwt }))).toEqual([]);
  });
  it('INT-1 each auth method needs its own keys and refuses the others', () => {
    expect(issues(base({ introspection: { client_id: 'gw', auth: 'private_key_jwt' } }))).toEqual([
      'issuers.as.introspection.private_key_file: auth: private_key_jwt needs private_key_file',
    ]);
    expect(issues(base({ introspection: { client_id: 'gw', auth: 'tls_client_auth', cert_file: 'c.crt' } }))).toEqual([
      'issuers.as.introspection.key_file: auth: tls_client_auth needs key_file',
    ]);
    expect(issues(base({ introspection: { ...pkjwt, cert_file: 'c.crt' } }))).toEqual([
      'issuers.as.introspection.cert_file: cert_file does not apply to auth: private_key_jwt',
    ]);
    expect(issues(base({ introspection: { client_id: 'gw', auth: 'tls_client_auth', cert_file: 'c', key_file: 'k', private_key_alg: 'ES256' } }))).toEqual([
      'issuers.as.introspection.private_key_alg: private_key_alg does not apply to auth: tls_client_auth',
    ]);
  });
  it('INT-1 client_secret_basic: the secret env must be set, and FAPI routes refuse it', () => {
    const basic = { client_id: 'gw', auth: 'client_secret_basic', client_secret_env: 'GW_SECRET' };
    expect(issues(base({ introspection: basic }, 'non-fapi'))).toEqual(['issuers.as.introspection.client_secret_env: environment variable GW_SECRET is not set']);
    expect(issues(base({ introspection: basic }, 'non-fapi'), { GW_SECRET: 's' })).toEqual([]);
    expect(issues(base({ introspection: basic }), { GW_SECRET: 's' })).toEqual([
      'routes[0].auth.issuers: issuer as introspects with client_secret_basic, refused on fapi2 routes (INT-1)',
    ]);
    const l = parseConfig(stringify(base({ introspection: basic }, 'non-fapi')), 'x.yaml', { GW_SECRET: 's3' });
    expect(l.secrets.introspectionSecrets).toEqual({ as: 's3' });
  });
  it('INT-6 / INT-8 bounds: negative_cache_s <= 10, endpoint https, timeout bounded', () => {
    expect(issues(base({ introspection: { ...pkjwt, negative_cache_s: 11 } }))[0]).toContain('issuers.as.introspection.negative_cache_s');
    expect(issues(base({ introspection: { ...pkjwt, endpoint: 'http://as.test/i' } }))[0]).toContain('issuers.as.introspection.endpoint');
    expect(issues(base({ introspection: { ...pkjwt, timeout_ms: 0 } }))[0]).toContain('issuers.as.introspection.timeout_ms');
    expect(issues(base({ introspection: { ...pkjwt, extra: 1 } }))[0]).toContain('extra');
  });
});
