// Found in review (fixed; the test failed before): resource_binding is a per-route check, and routes are chosen by
// method. The gateway drops method-override HEADERS (X-HTTP-Method-Override & co., README "identity
// headers": "an IIS/ASP.NET or method-override upstream would run another path or method than the one
// the route authorised"), but forwards the `_method` QUERY parameter that Laravel, Symfony (with
// http_method_override), Spring's HiddenHttpMethodFilter (request.getParameter reads the query) and
// Express method-override('_method') honour on a POST.
//
// With the README's own consents route ([GET, DELETE] bound by `consent:<id>` scopes) next to the natural
// "create a consent" route (POST /consents, nothing to bind: no id yet; the overlap check allows it, the
// methods differ), a token for consent c-42 deletes consent c-43: POST /consents/c-43?_method=DELETE
// matches the unbound POST route and the upstream runs DELETE /consents/c-43.
//
// Real TLS; the upstream stands in for a legacy method-override app (it is not gateway code).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

let h: Harness;
let up: TestUpstream;
/** What the legacy app ran: its method after the override, and the path. */
const ran: string[] = [];

beforeAll(async () => {
  up = await startUpstream({
    handler: (req, res) => {
      const u = new URL(req.url ?? '/', 'http://legacy');
      // Laravel / Symfony / Spring HiddenHttpMethodFilter / express method-override('_method'): POST only.
      const override = req.method === 'POST' ? (u.searchParams.get('_method') ?? req.headers['x-http-method-override']) : undefined;
      const method = typeof override === 'string' ? override.toUpperCase() : req.method;
      ran.push(`${method} ${u.pathname}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
  });
  h = await startHarness({
    upstream: up,
    routes: [
      // README "Binding the resource to the token", second route.
      { id: 'consents', match: { methods: ['GET', 'DELETE'], path_prefix: '/consents' }, auth: { binding: 'mtls', resource_binding: { scope_prefix: 'consent:' } } },
      // Creating a consent: no id to bind yet.
      { id: 'consents-create', match: { methods: ['POST'], path_prefix: '/consents' }, auth: { binding: 'mtls', scopes: { all_of: ['consents'] } } },
    ],
  });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

async function call(path: string, method: string, extra: [string, string][] = []): Promise<{ status: number; ran: string | undefined; reason: unknown }> {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'consents consent:c-42' });
  const iid = randomUUID();
  const before = ran.length;
  const r = await h.call(path, {
    method,
    cert: h.pki.client1,
    headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid], ['content-length', '0'], ...extra],
  });
  return { status: r.status, ran: ran.length > before ? ran.at(-1) : undefined, reason: (await logFor(h, iid))?.reason };
}

describe('F2 method override in the query defeats a method-split resource_binding', () => {
  it('control: DELETE of another consent is refused by the binding (403, not forwarded)', async () => {
    expect(await call('/consents/c-43', 'DELETE')).toMatchObject({ status: 403, ran: undefined, reason: 'GW_RESOURCE_NOT_GRANTED' });
  });

  it('control (held): the X-HTTP-Method-Override header is dropped, so the upstream runs a POST', async () => {
    expect((await call('/consents/c-43', 'POST', [['X-HTTP-Method-Override', 'DELETE']])).ran).toBe('POST /consents/c-43');
  });

  for (const q of ['_method=DELETE', '_METHOD=delete', '_method%5B%5D=DELETE', '%5Fmethod=DELETE', 'x=1;_method=DELETE']) {
    it(`POST /consents/c-43?${q}: never reaches the upstream (it would run DELETE /consents/c-43)`, async () => {
      const r = await call(`/consents/c-43?${q}`, 'POST');
      // Before the fix: 200 and the upstream ran "DELETE /consents/c-43" (for the plain spelling).
      expect(r.ran).toBeUndefined();
      expect(r).toMatchObject({ status: 400, reason: 'GW_BAD_REQUEST' });
    });
  }

  it('other names holding "method" still pass (payment_method, method, _methods), on every route', async () => {
    for (const q of ['payment_method=card', 'method=x', '_methods=x', 'x=_method']) {
      expect((await call(`/consents?${q}`, 'POST')).ran, q).toBe('POST /consents');
    }
    expect(await call('/consents?_method=GET', 'POST')).toMatchObject({ status: 400, ran: undefined });
  });
});
