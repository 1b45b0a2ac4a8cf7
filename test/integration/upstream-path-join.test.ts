// Pins (passing): README "the normalised request path is appended to [upstream.url's] path" and "The
// query is forwarded byte for byte": with an upstream.url that has a path and a fixed query, the upstream
// receives <base><normalised path>?<fixed>&<client query>, empty segments, `;` parameters and a trailing
// `.` included; the logged path (what was routed) is the same path. Nothing else tested http-proxy-3's
// urlJoin with a base path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      const up = c.routes[0].upstream.url;
      c.routes = [
        { id: 'acc', match: { methods: ['GET'], path_prefix: '/accounts', host: 'api.test' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any' }, upstream: { url: `${up}/base?tenant=b1`, timeout_ms: 2000 } },
        { id: 'root', match: { methods: ['GET'], path_prefix: '/', host: 'root.test' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any' }, upstream: { url: `${up}/r/`, timeout_ms: 2000 } },
      ];
    },
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

describe('the upstream receives the routed path, appended to upstream.url, byte for byte', () => {
  it.each([
    ['api.test', '/accounts', '/base/accounts?tenant=b1'],
    ['api.test', '/accounts?', '/base/accounts?tenant=b1'],
    ['api.test', '/accounts//1?x=%zz&y="', '/base/accounts//1?tenant=b1&x=%zz&y="'],
    ['api.test', '/accounts/1;x/./2.', '/base/accounts/1;x/2.?tenant=b1'],
    ['api.test', '/acc%6funts/%7e%3a', '/base/accounts/~%3A?tenant=b1'],
    ['API.TEST:443', '/accounts/1', '/base/accounts/1?tenant=b1'],
    ['root.test', '/', '/r/'],
    ['root.test', '//evil.example/x', '/r//evil.example/x'],
  ])('Host %s, %s -> %s', async (host, target, expected) => {
    const before = h.upstream.received.length;
    const { response } = await h.raw(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(response).status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    expect(h.upstream.received.at(-1)!.url).toBe(expected);
  });

  it('a Host that is only equivalent to a match.host (trailing dot) matches no route: 404, not forwarded', async () => {
    const before = h.upstream.received.length;
    const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test.\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(response).status).toBe(404);
    expect(h.upstream.received.length).toBe(before);
  });
});
