// Found in review (failed on the code before its fix).
// A config that `check` calls valid but that cannot start: replay.redis in sentinel or cluster mode
// with an empty endpoint list. load.ts only checks `sentinels === undefined` / `nodes === undefined`,
// while RedisReplayStore (built at start and on reload) throws for an empty list.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { RedisReplayStore } from '../../src/replay/redis.js';

const base = (redis: Record<string, unknown>) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  replay: { store: 'redis', redis },
  routes: [
    {
      id: 'accounts',
      match: { methods: ['GET'], path_prefix: '/accounts' },
      auth: { issuers: ['as'], audience: 'https://api.test' },
      upstream: { url: 'http://127.0.0.1:1' },
    },
  ],
});

const outcome = (redis: Record<string, unknown>): string => {
  let loaded;
  try {
    loaded = parseConfig(stringify(base(redis)), 'x.yaml', { REDIS_PASSWORD: 'pw' });
  } catch (e) {
    return e instanceof ConfigError ? 'refused by the config check' : `threw ${(e as Error).message}`;
  }
  const r = loaded.config.replay.redis!;
  try {
    const store = new RedisReplayStore({ mode: r.mode, sentinels: r.sentinels, sentinelName: r.sentinel_name, nodes: r.nodes, password: loaded.secrets.redisPassword });
    void store.close();
    return 'starts';
  } catch (e) {
    return `validated, then the start failed: ${(e as Error).message}`;
  }
};

describe('replay.redis endpoint lists (check must refuse what start refuses)', () => {
  it('cluster mode with nodes: [] is refused by the config check', () => {
    expect(outcome({ mode: 'cluster', nodes: [], password_env: 'REDIS_PASSWORD' })).toBe('refused by the config check');
  });
  it('sentinel mode with sentinels: [] is refused by the config check', () => {
    expect(outcome({ mode: 'sentinel', sentinels: [], sentinel_name: 'mymaster', password_env: 'REDIS_PASSWORD' })).toBe('refused by the config check');
  });
});
