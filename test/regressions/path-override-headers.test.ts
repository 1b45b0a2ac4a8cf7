// Found in review (fixed; the test failed before): README "The upstream receives the normalised path that was authorised" (How a request flows, step 10),
// HDR-10/HDR-12 ("strip before you set"), brief: no parser differential on the path.
// Bug: the forwarder strips X-Original-URL and X-Rewrite-URL because "the upstream would run another
// path ... than the one the route was matched and authorised for" (src/forward/headers.ts:32-34), but
// passes the other spellings of the same idea that legacy upstreams read the path from:
// X-Original-URI (the nginx convention `proxy_set_header X-Original-URI $request_uri`; PHP apps behind
// nginx route on `$_SERVER['HTTP_X_ORIGINAL_URI'] ?? $_SERVER['REQUEST_URI']`), X-Original-Pathname,
// and X-Envoy-Original-Path (what an Istio/Envoy sidecar in front of the upstream logs as the request
// path, `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`). A client authorised for /accounts/1 can make such an
// upstream serve (or log) /admin. Cause: the ALWAYS_STRIPPED list, src/forward/headers.ts:22-37.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
});
afterAll(async () => {
  await h?.close();
});

describe('a client cannot hand the upstream another path than the one routed and authorised', () => {
  it('control: X-Original-URL and X-Rewrite-URL are stripped', async () => {
    const before = h.upstream.received.length;
    const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(response).status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    const got = h.upstream.received.at(-1)!;
    expect(got.headers['x-original-url']).toBeUndefined();
    expect(got.headers['x-rewrite-url']).toBeUndefined();
  });

  for (const name of ['X-Original-URI', 'X-Original-Pathname', 'X-Envoy-Original-Path']) {
    it(`${name}: /admin is not forwarded with a request routed and authorised as /accounts/1`, async () => {
      const before = h.upstream.received.length;
      const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n${name}: /admin/users?all=1\r\nConnection: close\r\n\r\n`);
      expect(parseRawResponse(response).status).toBe(200);
      expect(h.upstream.received.length).toBe(before + 1);
      const got = h.upstream.received.at(-1)!;
      expect(got.url).toBe('/accounts/1');
      // Currently forwarded as sent.
      expect(got.headers[name.toLowerCase()], name).toBeUndefined();
    });
  }
});
