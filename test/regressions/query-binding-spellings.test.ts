// Found in review (fixed; each failed before): TOK-8 query_param over real TLS. A token granting
// account A got a request naming account B past the gateway, in a spelling the upstream's framework
// reads as accountId: names that decode only leniently (PHP per-escape decoding and NUL, ASP.NET %u),
// brackets as qs and Rack 2 read them, and a value `A;,B` that &-only parsers read whole (a Spring
// list binding then reads B). Each was forwarded (200) instead of 403 GW_RESOURCE_NOT_GRANTED.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const MINE = 'DE02100100109307118603';
const THEIRS = 'DE89370400440532013000';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    routes: [
      {
        id: 'balances',
        match: { methods: ['GET'], path: '/v1/balances' },
        auth: { binding: 'mtls', resource_binding: { scope_prefix: 'account:', query_param: 'accountId' } },
      },
    ],
  });
});
afterAll(async () => h?.close());

const get = async (query: string) => {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: `account:${MINE}` });
  const iid = randomUUID();
  const before = h.upstream.received.length;
  const r = await h.call(`/v1/balances?${query}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
  return { status: r.status, forwarded: h.upstream.received.slice(before).map((x) => x.url), line: await logFor(h, iid) };
};

describe('query_param over TLS: account B reaches the upstream with a token for A', () => {
  it('control: the plain spelling is refused, the granted account forwarded as sent', async () => {
    expect((await get(`accountId=${THEIRS}`)).status).toBe(403);
    expect((await get(`accountId=${MINE}&x=%27`)).forwarded).toEqual([`/v1/balances?accountId=${MINE}&x=%27`]);
  });

  // A name that is not UTF-8 once decoded is refused before the binding is judged (400: an upstream
  // decoding otherwise could read it as another name); the others are judged and not granted (403).
  it.each([
    ['PHP $_GET (per-escape decode, NUL ends the name)', `account%49d%00%=${THEIRS}`, 400],
    ['PHP $_GET (encoded [] then a stray %)', `accountId%5B%5D%=${THEIRS}`, 400],
    ['ASP.NET Request.QueryString (%u escape)', `account%u0049d=${THEIRS}`, 400],
    ['Express 4 req.query / qs', `[accountId]=${THEIRS}`, 403],
    ['Rack 2 params', `accountId]=${THEIRS}`, 403],
    ['Spring @RequestParam List<String>', `accountId=${MINE};,${THEIRS}`, 403],
  ])('%s: ?%s is refused (%i), not forwarded', async (_, q, status) => {
    const r = await get(q);
    expect({ status: r.status, forwarded: r.forwarded, reason: r.line?.reason }).toEqual({ status, forwarded: [], reason: status === 400 ? 'GW_BAD_REQUEST' : 'GW_RESOURCE_NOT_GRANTED' });
  });
});

describe('held over TLS', () => {
  it('odd queries get 200/400/403, never a 5xx; a fragment is 400 before the upstream', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: `account:${MINE}` });
    const odd = ['%', 'accountId=%ZZ', '%00=1', 'accountId=%FF', '['.repeat(8000), '?', '&&&;;;', 'accountId=%C0%AE', `accountId=${MINE}#x`, `accountId=${MINE}?accountId=${THEIRS}`];
    for (const q of odd) {
      const { response } = await h.raw(`GET /v1/balances?${q} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
      expect(response.slice(0, 12), q.slice(0, 40)).toMatch(/^HTTP\/1\.1 (200|400|403)$/);
    }
  });
});
