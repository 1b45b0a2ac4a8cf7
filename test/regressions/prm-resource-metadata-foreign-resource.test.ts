// Found in review (fixed; the test failed before): PRM-5 (RFC 9728 §3.3, §5.1). "If the protected resource metadata was retrieved from a URL returned by
// the protected resource via the WWW-Authenticate resource_metadata parameter, then the resource value
// returned MUST be identical to the URL that the client used to make the request ... If these values are
// not identical, the data contained in the response MUST NOT be used." Even read leniently (same origin,
// `resource` a path prefix of the request URL: draft-mcguinness-oauth-rfc9728bis), the gateway advertised
// resource_metadata on routes where no client may use it:
//  - a route with its own public_origin (clients call https://second.test/...): the URL and the document's
//    resource are on server.public_origin, another origin;
//  - a route whose audience path is not a prefix of the route's paths (/v1/accounts, audience .../accounts-api).
// gateway.ts added it to every 401 without looking at the route's paths or public_origin; now
// metadata/protected-resource.ts appliesTo decides, once per config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenges } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';

const param = (challenge: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.resource_metadata = {};
      const upstream = { url: c.routes[0].upstream.url };
      c.routes.push(
        { id: 'second', public_origin: 'https://second.test', match: { methods: ['GET'], path_prefix: '/second' }, auth: { issuers: ['main'], audience: 'https://api.test/second', binding: 'any' }, upstream },
        { id: 'v1', match: { methods: ['GET'], path_prefix: '/v1/accounts' }, auth: { issuers: ['main'], audience: 'https://api.test/accounts-api', binding: 'any' }, upstream },
      );
    },
  });
});
afterAll(async () => {
  await h?.close();
});

/** RFC 9728 §3.3 read as leniently as anyone proposes: same origin, and a path prefix on a segment boundary. */
function usableFor(resource: string, requestUrl: string): boolean {
  const r = new URL(resource);
  const q = new URL(requestUrl);
  if (r.origin !== q.origin) return false;
  const p = r.pathname.endsWith('/') ? r.pathname : `${r.pathname}/`;
  return q.pathname === r.pathname || q.pathname.startsWith(p);
}

describe('PRM-5 / RFC 9728 §3.3: resource_metadata only where the document can apply to the request', () => {
  it('control: the default route (audience https://api.test) advertises a document the client may use', async () => {
    const r = await h.call('/accounts/1');
    const url = param(challenges(r)[0] ?? '', 'resource_metadata') as string;
    const doc = (await h.call(new URL(url).pathname)).json() as { resource: string };
    expect(usableFor(doc.resource, 'https://api.test/accounts/1')).toBe(true);
  });

  for (const [what, host, path] of [
    ['a route with its own public_origin (another origin)', 'second.test', '/second/1'],
    ['a route whose audience path is not a prefix of its paths', 'api.test', '/v1/accounts/1'],
  ] as const) {
    it(`PRM-5 ${what}: no resource_metadata the client must discard`, async () => {
      const requestUrl = `https://${host}${path}`;
      const r = await h.call(path, { headers: [['Host', host]] });
      expect(r.status).toBe(401);
      for (const c of challenges(r)) {
        const url = param(c, 'resource_metadata');
        if (url === undefined) continue;
        const doc = await h.call(new URL(url).pathname, { headers: [['Host', new URL(url).host]] });
        expect(doc.status).toBe(200);
        const resource = (doc.json() as { resource: string }).resource;
        expect(usableFor(resource, requestUrl), `${c}\n -> resource ${resource}, request ${requestUrl}`).toBe(true);
      }
    });
  }
});
