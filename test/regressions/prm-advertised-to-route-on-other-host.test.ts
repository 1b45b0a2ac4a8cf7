// Found in review (fixed; the test failed before): PRM-5 / PRM-2. appliesTo (src/metadata/protected-resource.ts) only compares a
// route's own public_origin with the server's. A route that matches another Host (match.host) without a
// public_origin of its own is still advertised `resource_metadata` of an identifier under
// server.public_origin: its clients call https://<match.host>/..., and RFC 9728 §3.3 makes them discard
// a document whose `resource` is not the URL they called (another origin here), which is what appliesTo
// means to avoid ("a route with its own public origin ... gets no resource_metadata it would have to
// discard").
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { buildProtectedResourceMetadata } from '../../src/metadata/protected-resource.js';
import { compileRouteTable } from '../../src/route/table.js';

const ORIGIN = 'https://api.bank.example';

describe('PRM-5 advertising to a route served under another host', () => {
  it('PRM-5: a route with match.host other than the public origin host gets no resource_metadata for an identifier at the public origin', () => {
    const l = parseConfig(
      stringify({
        server: { listen: '127.0.0.1:0', public_origin: ORIGIN, tls: { cert_file: 's.crt', key_file: 's.key' } },
        issuers: { as1: { issuer: 'https://as1.example', jwks_uri: 'https://as1.example/jwks' } },
        routes: [
          { id: 'here', match: { methods: ['GET'], path_prefix: '/payments' }, auth: { issuers: ['as1'], audience: ORIGIN }, upstream: { url: 'http://127.0.0.1:1' } },
          {
            id: 'other-host',
            match: { methods: ['GET'], path_prefix: '/accounts', host: 'partners.bank.example' },
            auth: { issuers: ['as1'], audience: ORIGIN },
            upstream: { url: 'http://127.0.0.1:1' },
          },
        ],
        resource_metadata: {},
      }),
      'x.yaml',
      {},
    );
    const table = compileRouteTable(l).routes;
    const m = buildProtectedResourceMetadata(l, table)!;
    const advertised = Object.fromEntries(table.map((r) => [r.id, m.advertisedFor(r)]));
    expect(advertised).toEqual({ here: `${ORIGIN}/.well-known/oauth-protected-resource`, 'other-host': undefined });
  });
});
