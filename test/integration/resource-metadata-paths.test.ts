// Found in review (PRM-1 / PRM-5; failed on the code before its fix): the URL advertised in resource_metadata must be the path the gateway serves.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { buildProtectedResourceMetadata } from '../../src/metadata/protected-resource.js';
import { compileRouteTable } from '../../src/route/table.js';
import { normaliseTarget } from '../../src/route/normalize-path.js';

const ORIGIN = 'https://api.bank.example';

function loaded(audience: string) {
  return parseConfig(
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: ORIGIN, tls: { cert_file: 's.crt', key_file: 's.key' } },
      issuers: { as1: { issuer: 'https://as1.example', jwks_uri: 'https://as1.example/jwks' } },
      routes: [{ id: 'r0', match: { methods: ['GET'], path_prefix: '/p0' }, upstream: { url: 'http://127.0.0.1:1' }, auth: { issuers: ['as1'], audience } }],
      resource_metadata: {},
    }),
    'x.yaml',
    {},
  );
}

describe('PRM-1/PRM-5 advertised metadata URL is servable', () => {
  for (const aud of [`${ORIGIN}/%7Eusers`, `${ORIGIN}/caf%c3%a9`, `${ORIGIN}/a%2db`]) {
    it(`audience ${aud}: the resource_metadata URL in challenges is served`, () => {
      const l = loaded(aud);
      const m = buildProtectedResourceMetadata(l, compileRouteTable(l).routes)!;
      const url = m.urlFor(aud);
      if (url === undefined) return; // not published at all: consistent
      const t = normaliseTarget(new URL(url).pathname);
      expect(t.ok).toBe(true);
      // what the gateway looks up for a request to the advertised URL
      expect(m.document((t as { path: string }).path), `advertised ${url}, request path ${(t as { path: string }).path}`).toBeDefined();
    });
  }
});
