// HDR-7 over real TLS: `upstream.json_content_type: true` labels a legacy API's JSON answers (a missing
// or wrong Content-Type, which the FAPI suite fails as EnsureResourceResponseReturnedJsonContentType);
// the body passes byte for byte; routes without the flag pass the upstream's label as sent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const BODY = '{"accounts":[{"id":"1","name":"Zürich"}]}';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      const url = c.routes[0].upstream.url;
      c.routes.push({ id: 'legacy', match: { methods: ['GET', 'HEAD'], path_prefix: '/legacy' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url, json_content_type: true } });
    },
  });
  // The upstream labels each answer as the path says; HEAD answers with the same head and no body.
  h.upstream.handler = (req: IncomingMessage, res: ServerResponse) => {
    const kind = (req.url ?? '').split('/')[2] ?? '';
    const types: Record<string, string[]> = {
      none: [],
      text: ['text/plain; charset=iso-8859-1'],
      two: ['text/html', 'application/json; charset=utf-8'],
      problem: ['application/problem+json'],
      error: ['text/html'],
    };
    const status = kind === 'error' ? 500 : kind === 'empty' ? 204 : 200;
    const raw: string[] = [];
    for (const t of types[kind] ?? []) raw.push('Content-Type', t);
    if (status !== 204) raw.push('Content-Length', String(Buffer.byteLength(BODY)));
    res.writeHead(status, raw);
    res.end(status === 204 || req.method === 'HEAD' ? undefined : BODY);
  };
});
afterAll(async () => {
  await h?.close();
});

const call = async (path: string, method = 'GET') =>
  h.call(path, { method, cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) })}`]] });

describe('HDR-7 upstream.json_content_type', () => {
  it.each([
    ['none', 'application/json'],
    ['text', 'application/json'],
    ['two', 'application/json; charset=utf-8'],
    ['problem', 'application/problem+json'],
  ])('HDR-7 a 200 labelled %s reaches the client as exactly one %s, the body unchanged', async (kind, type) => {
    const r = await call(`/legacy/${kind}`);
    expect(r.status).toBe(200);
    expect(r.headersDistinct['content-type']).toEqual([type]);
    expect(r.body).toBe(BODY);
  });

  it('HDR-7 HEAD gets the same label; an upstream 500 and a 204 keep theirs (none on the 204)', async () => {
    const head = await call('/legacy/text', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headersDistinct['content-type']).toEqual(['application/json']);
    const err = await call('/legacy/error');
    expect(err.status).toBe(500);
    expect(err.headersDistinct['content-type']).toEqual(['text/html']);
    const empty = await call('/legacy/empty');
    expect(empty.status).toBe(204);
    expect(empty.headers['content-type']).toBeUndefined();
  });

  it('HDR-7 a route without the flag passes the upstream\'s label as sent', async () => {
    const r = await call('/accounts/text');
    expect(r.status).toBe(200);
    expect(r.headersDistinct['content-type']).toEqual(['text/plain; charset=iso-8859-1']);
  });
});
