// Found in review (failed on the code before its fix).
// README (routes[].upstream.url): "No `user:password@` (it would be printed by `check` and logged)."
// The guard is a regex on the raw string (`^https?://[^/?#]*@`), but WHATWG URL parsing (used by zod's
// z.url() and by compileRoute's `new URL`) also accepts `http:///user:pass@host`, which it turns into
// `http://user:pass@host/`: the credentials pass validation and `check` prints them.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { compileRouteTable } from '../../src/route/table.js';

const ROOT = new URL('../../', import.meta.url).pathname;

const config = (url: string) => ({
  server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
  issuers: { as: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
  routes: [
    {
      id: 'accounts',
      match: { methods: ['GET'], path_prefix: '/accounts' },
      auth: { issuers: ['as'], audience: 'https://api.test' },
      upstream: { url },
    },
  ],
});

describe('upstream.url credentials (README: no user:password@, it would be printed by check and logged)', () => {
  it('refuses http:///user:pass@host (three slashes), which URL parsing turns into http://user:pass@host/', () => {
    const url = 'http:///svc:Sup3rS3cret@127.0.0.1:8080';
    let accepted: string | undefined;
    try {
      const loaded = parseConfig(stringify(config(url)), 'x.yaml', {});
      accepted = compileRouteTable(loaded).routes[0]!.upstream.url.href;
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
    }
    // Currently accepted, and the compiled upstream carries the password.
    expect(accepted, `accepted as ${accepted}`).toBeUndefined();
  });
});
