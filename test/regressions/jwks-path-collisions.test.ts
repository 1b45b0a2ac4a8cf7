// Found in review (fixed; the test failed before): `http_signatures.response_signing.jwks_path` is
// checked for its characters only (schema.ts), never against the other paths the gateway answers before
// routing, nor against routes.
// 1. jwks_path equal to an RFC 9728 metadata path (`/.well-known/oauth-protected-resource` is the
// metadata of the audience `https://api.test`, PRM-1): gateway.ts serves metadata first, so the
// `jwks_uri` the metadata advertises (SIG-9, PRM-3) answers with the metadata document itself. A client
// that follows it finds no `keys` and cannot verify any signed response. Accepted by the config.
// 2. A route whose exact path is jwks_path (GET): the JWKS is answered before routing, so the route can
// never be reached with GET; "exactly one route matches ... overlapping routes are a config error"
// (README, design.md rule 5), but this overlap is accepted silently (`check` says nothing). Now both are
// refused with the config (route/table.ts, beside the other overlap checks).
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIENCE, startHarness, type Harness } from '../support/gateway.js';
import { keyFile, type SigningKeyFile } from '../support/http-sig.js';

let h: Harness | undefined;
let key: SigningKeyFile | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  key?.cleanup();
});

/** Starts the harness with that jwks_path and those routes; the start's error message. */
async function refusal(jwksPath: string, routes: Record<string, unknown>[]): Promise<string> {
  key = keyFile();
  const file = key.file;
  try {
    h = await startHarness({
      routes,
      patch: (c) => {
        c.resource_metadata = {};
        c.http_signatures = { response_signing: { keys: [{ key_file: file, kid: 'gw-1', alg: 'EdDSA' }], jwks_path: jwksPath } };
      },
    });
  } catch (e) {
    return (e as Error).message;
  }
  return 'started';
}

describe('SIG-9 jwks_path that another answer of the gateway would shadow is refused with the config', () => {
  it('under the metadata path (the advertised jwks_uri served the metadata document, not the keys)', async () => {
    expect(AUDIENCE).toBe('https://api.test');
    const signed = [{ id: 'signed', match: { methods: ['GET'], path_prefix: '/accounts' }, auth: { binding: 'mtls' }, sign_responses: true }];
    expect(await refusal('/.well-known/oauth-protected-resource', signed)).toMatch(/jwks_path.*: under \/\.well-known\/oauth-protected-resource/);
    expect(await refusal('/.well-known/oauth-protected-resource/accounts', signed)).toMatch(/jwks_path/);
  });

  it("equal to a GET route's path, or under its prefix (the route would never be reached)", async () => {
    expect(await refusal('/keys', [{ id: 'keys-api', match: { methods: ['GET'], path: '/keys' }, auth: { binding: 'mtls' } }])).toMatch(
      /jwks_path.*: route keys-api matches GET \/keys/,
    );
    expect(await refusal('/api/jwks.json', [{ id: 'api', match: { methods: ['HEAD'], path_prefix: '/api' }, auth: { binding: 'mtls' } }])).toMatch(/route api matches GET/);
    // A POST-only route there does not collide: the JWKS answers GET and HEAD only.
    expect(await refusal('/keys', [{ id: 'post-keys', match: { methods: ['POST'], path: '/keys' }, auth: { binding: 'mtls' } }])).toBe('started');
  });
});
