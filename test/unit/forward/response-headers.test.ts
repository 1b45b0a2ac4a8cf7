// HDR-1 / HDR-12 / HDR-14 / DPOP-27: what the client sees of the upstream's response head.
import { describe, expect, it } from 'vitest';
import { responseHeaders } from '../../../src/forward/proxy-forwarder.js';

const pairs = (flat: string[]): [string, string][] => flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1] as string] as [string, string]] : []));

describe('responseHeaders', () => {
  it('HDR-12: drops hop-by-hop fields and every name the Connection header lists, in any case', () => {
    const out = responseHeaders(
      ['Content-Type', 'text/plain', 'Connection', 'close, X-Hop ,x-other', 'X-HOP', '1', 'x-other', '2', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authenticate', 'Basic', 'X-Kept', '3'],
      ['x-fapi-interaction-id', 'id-1'],
    );
    expect(pairs(out)).toEqual([
      ['content-type', 'text/plain'],
      ['x-kept', '3'],
      ['x-fapi-interaction-id', 'id-1'],
    ]);
  });

  it('HDR-1 / DPOP-27: the gateway\'s own fields replace the upstream\'s; a dpop-nonce from the upstream never passes', () => {
    const raw = ['X-Fapi-Interaction-Id', 'spoofed', 'DPoP-Nonce', 'upstream', 'Cache-Control', 'max-age=60'];
    expect(pairs(responseHeaders(raw, ['x-fapi-interaction-id', 'id-1']))).toEqual([
      ['cache-control', 'max-age=60'],
      ['x-fapi-interaction-id', 'id-1'],
    ]);
    // HDR-14: a response carrying our nonce is no-store whatever the upstream said.
    expect(pairs(responseHeaders(raw, ['x-fapi-interaction-id', 'id-1', 'cache-control', 'no-store', 'dpop-nonce', 'n-1']))).toEqual([
      ['x-fapi-interaction-id', 'id-1'],
      ['cache-control', 'no-store'],
      ['dpop-nonce', 'n-1'],
    ]);
  });

  it('repeated fields stay separate and in order (Set-Cookie must never be joined)', () => {
    expect(pairs(responseHeaders(['Set-Cookie', 'a=1', 'Vary', 'Accept', 'Set-Cookie', 'b=2'], []))).toEqual([
      ['set-cookie', 'a=1'],
      ['vary', 'Accept'],
      ['set-cookie', 'b=2'],
    ]);
  });

  const JSON_RULES = { cors: false, json: true };
  const CORS_RULES = { cors: true, json: false };

  it('HDR-7 json rule: a 2xx without a JSON Content-Type gets exactly one application/json; a JSON type the upstream sent is kept', () => {
    const own = ['x-fapi-interaction-id', 'id-1'];
    const label = (raw: string[], status = 200): [string, string][] => pairs(responseHeaders(raw, own, JSON_RULES, status)).filter(([k]) => k === 'content-type');
    expect(label([])).toEqual([['content-type', 'application/json']]);
    expect(label(['Content-Type', 'text/plain; charset=utf-8'])).toEqual([['content-type', 'application/json']]);
    expect(label(['Content-Type', 'text/html', 'content-type', 'application/json; charset=UTF-8'])).toEqual([['content-type', 'application/json; charset=UTF-8']]);
    expect(label(['Content-Type', 'Application/Problem+JSON'], 201)).toEqual([['content-type', 'Application/Problem+JSON']]);
    // Not applied: errors, partial content and bodiless answers keep what the upstream said.
    expect(label(['Content-Type', 'text/html'], 500)).toEqual([['content-type', 'text/html']]);
    expect(label(['Content-Type', 'multipart/byteranges; boundary=x'], 206)).toEqual([['content-type', 'multipart/byteranges; boundary=x']]);
    expect(label([], 204)).toEqual([]);
    expect(label([], 304)).toEqual([]);
    // No body: nothing to label, whatever the zeros (RFC 9110 Content-Length is 1*DIGIT).
    expect(label(['Content-Length', '0'])).toEqual([]);
    expect(label(['Content-Length', '00', 'Content-Type', 'text/plain'])).toEqual([['content-type', 'text/plain']]);
    expect(label(['Content-Length', '10'])).toEqual([['content-type', 'application/json']]);
    // Off by default.
    expect(pairs(responseHeaders(['Content-Type', 'text/plain'], own))).toEqual([['content-type', 'text/plain'], ['x-fapi-interaction-id', 'id-1']]);
  });

  it('HDR-15 cors rule: the upstream\'s access-control-* fields go, in any case, and Vary: Origin is added after its own Vary', () => {
    const raw = ['Access-Control-Allow-Origin', '*', 'ACCESS-CONTROL-ALLOW-CREDENTIALS', 'true', 'Vary', 'Accept-Encoding', 'X-Kept', '1'];
    expect(pairs(responseHeaders(raw, ['x-fapi-interaction-id', 'id-1'], CORS_RULES))).toEqual([
      ['vary', 'Accept-Encoding'],
      ['x-kept', '1'],
      ['x-fapi-interaction-id', 'id-1'],
      ['vary', 'Origin'],
    ]);
  });
});
