// Regression (review of f3b29d3, failed before the fix): HDR-7 / HDR-12 labelling over real TLS: a bodiless 200
// is not labelled, and a Content-Type the upstream lists in Connection is dropped, not kept as the label.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      const url = c.routes[0].upstream.url;
      c.routes.push({ id: 'legacy', match: { methods: ['GET'], path_prefix: '/legacy' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url, json_content_type: true } });
    },
  });
  h.upstream.handler = (req: IncomingMessage, res: ServerResponse) => {
    const kind = (req.url ?? '').split('/')[2] ?? '';
    if (kind === 'empty') {
      res.writeHead(200, ['Content-Length', '0']);
      return res.end();
    }
    // Content-Type named in Connection: a hop-by-hop field for this hop only (RFC 9110 §7.6.1).
    res.writeHead(200, ['Connection', 'content-type', 'Content-Type', 'application/vnd.legacy+json', 'Content-Length', '2']);
    res.end('{}');
  };
});
afterAll(async () => {
  await h?.close();
});
const call = async (path: string) =>
  h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) })}`]] });

describe('HDR-7 upstream.json_content_type review', () => {
  it('HDR-7 a 200 without a body (Content-Length: 0) is not labelled application/json (README: "a 2xx with a body")', async () => {
    const r = await call('/legacy/empty');
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(r.headers['content-type']).toBeUndefined();
  });

  it('HDR-12/HDR-7 a Content-Type the upstream lists in Connection is dropped, not kept as the JSON label', async () => {
    const r = await call('/legacy/conn');
    expect(r.status).toBe(200);
    // Without the flag the listed field is dropped; with it, the field must not survive as the label.
    expect(r.headersDistinct['content-type']).toEqual(['application/json']);
  });
});
