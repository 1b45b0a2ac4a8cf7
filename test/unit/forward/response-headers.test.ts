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
});
