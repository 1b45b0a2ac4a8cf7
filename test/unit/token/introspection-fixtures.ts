// Shared by the token unit tests: issuer configs built by the real loader (defaults filled in).
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import type { IssuerConfig } from '../../../src/config/schema.js';

export const ISSUER = 'https://as.test';
export const AUD = 'https://api.test';

/** An issuer config the way the loader makes it (defaults filled in). */
export function issuerConfig(introspection: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): IssuerConfig {
  const loaded = parseConfig(
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: AUD, tls: { cert_file: 's.crt', key_file: 's.key' } },
      issuers: {
        as: {
          issuer: ISSUER,
          token_format: 'opaque',
          introspection: { endpoint: `${ISSUER}/introspect`, client_id: 'gw', auth: 'client_secret_basic', client_secret_env: 'S', ...introspection },
          ...extra,
        },
      },
      routes: [{ id: 'r', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/' }, auth: { issuers: ['as'], audience: AUD }, upstream: { url: 'http://127.0.0.1:1' } }],
    }),
    '<inline>',
    { S: 'secret' },
  );
  return loaded.config.issuers.as as IssuerConfig;
}

