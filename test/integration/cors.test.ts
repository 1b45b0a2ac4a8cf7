// HDR-15, DPOP-27 (RFC 9449 §7.1, §8) over real TLS: routes with a CORS policy for browser clients. The
// gateway answers preflights itself (no token, never forwarded), lets an allowed origin's script read
// the challenge, the nonce and the interaction id on every answer, refusals included, and is the only
// one speaking CORS on those routes. Routes without a policy are unchanged.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { TestResponse } from '../support/client.js';
import { expectErrorContract } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { oneRouteConfig } from '../support/config.js';

const APP = 'https://app.bank.example';
const DEV = 'http://localhost:3000';
let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      const upstream = { url: c.routes[0].upstream.url, timeout_ms: 2000 };
      const cors = { allowed_origins: [APP, DEV], exposed_headers: ['x-request-id'], max_age_s: 120 };
      c.dpop = { ...c.dpop, nonce: { secret_env: 'NONCE_SECRET' } };
      c.routes.push(
        { id: 'spa', match: { methods: ['GET', 'POST'], path_prefix: '/spa' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any' }, upstream, cors },
        {
          id: 'spa-nonce',
          match: { methods: ['GET'], path_prefix: '/spa-nonce' },
          auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop', dpop_nonce: true },
          upstream,
          cors: { allowed_origins: [APP] },
        },
      );
    },
    env: { NONCE_SECRET: 'n'.repeat(48) },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => {
  h.upstream.handler = undefined;
});

/** An upstream that speaks CORS itself, loosely: on a route with a policy, none of this may reach the browser. */
function looseUpstream(): void {
  h.upstream.handler = (_req, res: ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'set-cookie',
      vary: 'Accept-Encoding',
      'x-request-id': 'up-1',
    });
    res.end('{"ok":true}');
  };
}

const preflight = (path: string, origin: string, method = 'GET', iid = randomUUID()) =>
  h.call(path, {
    method: 'OPTIONS',
    headers: [['Origin', origin], ['Access-Control-Request-Method', method], ['Access-Control-Request-Headers', 'authorization, dpop'], ['x-fapi-interaction-id', iid]],
  });
const dpopCall = async (path: string, origin: string | undefined, claims: Record<string, unknown> = {}, nonce?: string) => {
  const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
  const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}${path}`, token, claims: nonce === undefined ? claims : { ...claims, nonce } });
  return h.call(path, { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], ...(origin === undefined ? [] : [['Origin', origin] as [string, string]])] });
};
const varies = (r: TestResponse): string[] =>
  (r.headersDistinct.vary ?? []).flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase());
const accessControl = (r: TestResponse): string[] => Object.keys(r.headers).filter((k) => k.startsWith('access-control-'));

describe('CORS preflights (HDR-15)', () => {
  it('HDR-15 a preflight from an allowed origin -> 204 answered by the gateway: origin echoed, the route methods, Authorization, DPoP and x-fapi-* allowed; never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const origin of [APP, DEV]) {
      const iid = randomUUID();
      const r = await preflight('/spa/accounts/1', origin, 'POST', iid);
      expect(r.status).toBe(204);
      expect(r.body.length).toBe(0);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
      expect(r.headers['access-control-allow-methods']).toBe('GET, POST');
      const allowed = String(r.headers['access-control-allow-headers']).split(', ');
      expect(allowed).toEqual(expect.arrayContaining(['authorization', 'dpop', 'content-type', 'x-fapi-interaction-id', 'x-fapi-auth-date', 'x-fapi-customer-ip-address']));
      expect(r.headers['access-control-max-age']).toBe('120');
      // Never credentialed: tokens travel in headers.
      expect(r.headers['access-control-allow-credentials']).toBeUndefined();
      expect(varies(r)).toEqual(expect.arrayContaining(['origin', 'access-control-request-method']));
      expect(r.headers['x-fapi-interaction-id']).toBe(iid);
      expect(r.headers.date).toBeDefined();
      expect(await logFor(h, iid)).toMatchObject({ route: 'spa', decision: 'allow', reason: 'CORS_PREFLIGHT', status: 204 });
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('HDR-15 a preflight from an unknown origin -> 403, no Access-Control-Allow-Origin, logged with the origin, never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const origin of ['https://evil.example', 'null', 'https://app.bank.example.evil.example', 'https://APP.bank.example', `${APP}/`, `${APP}:443`]) {
      const iid = randomUUID();
      const r = await preflight('/spa/1', origin, 'GET', iid);
      expectErrorContract(r, 403, 'origin_not_allowed');
      expect(accessControl(r)).toEqual([]);
      // ERR-5: every 403 carries a challenge; no error on it, since no token was judged.
      expect(r.headersDistinct['www-authenticate']?.every((c) => !c.includes('error='))).toBe(true);
      const line = await logFor(h, iid);
      expect(line).toMatchObject({ route: 'spa', reason: 'GW_CORS_ORIGIN_REFUSED', status: 403 });
      expect(String(line?.detail)).toContain(JSON.stringify(origin));
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('HDR-15 a preflight for a method the route does not take, or for a route without a policy, is not answered as one (404 without CORS headers)', async () => {
    for (const [path, method] of [['/spa/1', 'DELETE'], ['/accounts/1', 'GET'], ['/nowhere', 'GET']] as const) {
      const r = await preflight(path, APP, method);
      expectErrorContract(r, 404, 'not_found');
      expect(accessControl(r)).toEqual([]);
    }
  });
});

describe('CORS on answers (HDR-15, DPOP-27)', () => {
  it('HDR-15 an allowed origin: the forwarded answer carries the origin and exposes the challenge, nonce and interaction id; the upstream\'s own CORS headers are dropped', async () => {
    looseUpstream();
    const r = await dpopCall('/spa/1', APP);
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers']).split(', ')).toEqual(['www-authenticate', 'dpop-nonce', 'x-fapi-interaction-id', 'retry-after', 'x-request-id']);
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(r.headersDistinct['access-control-allow-origin']).toHaveLength(1);
    expect(varies(r)).toEqual(expect.arrayContaining(['accept-encoding', 'origin']));
    expect(r.headers['x-request-id']).toBe('up-1');
  });

  it('HDR-15 an unknown or absent origin: answered as usual, without the upstream\'s CORS headers or ours, and Vary: Origin', async () => {
    looseUpstream();
    for (const origin of ['https://evil.example', undefined]) {
      const r = await dpopCall('/spa/1', origin);
      expect(r.status).toBe(200);
      expect(accessControl(r)).toEqual([]);
      expect(varies(r)).toContain('origin');
    }
  });

  it('HDR-15 refusals to an allowed origin carry the CORS headers too, so the script can read WWW-Authenticate', async () => {
    const r = await h.call('/spa/1', { headers: [['Origin', APP]] });
    expectErrorContract(r, 401, 'unauthorized');
    expect(r.headers['www-authenticate']).toBeDefined();
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers'])).toContain('www-authenticate');
    expect(varies(r)).toContain('origin');
    const bad = await h.call('/spa/1', { cert: h.pki.client1, headers: [['Origin', 'https://evil.example'], ['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client2.x5tS256) })}`]] });
    expectErrorContract(bad, 401, 'invalid_token');
    expect(accessControl(bad)).toEqual([]);
  });

  it('DPOP-27 with CORS: use_dpop_nonce to an allowed origin exposes DPoP-Nonce, and the retry with it succeeds', async () => {
    const first = await dpopCall('/spa-nonce/1', APP);
    expectErrorContract(first, 401, 'use_dpop_nonce');
    expect(first.headers['access-control-allow-origin']).toBe(APP);
    expect(String(first.headers['access-control-expose-headers']).split(', ')).toEqual(expect.arrayContaining(['dpop-nonce', 'www-authenticate']));
    const nonce = String(first.headers['dpop-nonce']);
    const second = await dpopCall('/spa-nonce/1', APP, {}, nonce);
    expect(second.status).toBe(200);
    expect(second.headers['access-control-allow-origin']).toBe(APP);
    expect(second.headers['dpop-nonce']).toBeDefined();
  });

  it('HDR-15 a route without a policy passes the upstream\'s CORS headers as sent and adds none', async () => {
    looseUpstream();
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['Origin', APP]] });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-credentials']).toBe('true');
    expect(varies(r)).toEqual(['accept-encoding']);
  });
});

describe('CORS config (HDR-15)', () => {
  const yaml = (cors: string): string => oneRouteConfig({ route: `cors: ${cors}` });
  it.each([
    ['{ allowed_origins: ["*"] }', /origin as browsers send it/],
    ['{ allowed_origins: ["null"] }', /origin as browsers send it/],
    ['{ allowed_origins: ["https://app.example/"] }', /origin as browsers send it/],
    ['{ allowed_origins: ["https://App.example"] }', /origin as browsers send it/],
    ['{ allowed_origins: ["https://app.example:443"] }', /default port/],
    ['{ allowed_origins: [] }', /allowed_origins/],
    ['{ allowed_origins: ["https://app.example"], allow_credentials: true }', /allow_credentials/],
  ])('HDR-15 cors %s is refused at load', (cors, message) => {
    expect(() => parseConfig(yaml(cors), 'cors.yaml', {})).toThrow(message);
  });

  it('HDR-15 origins with a port, an IPv6 literal and http for local development load', () => {
    expect(() => parseConfig(yaml('{ allowed_origins: ["https://app.example:8443", "http://[::1]:3000", "http://localhost:3000"] }'), 'cors.yaml', {})).not.toThrow();
  });
});
