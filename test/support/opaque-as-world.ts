// A gateway whose route /op/* accepts opaque tokens introspected at a scriptable fake AS (tls_client_auth
// with the client1 certificate; the fake AS does not check it). Tokens are mTLS-bound to client1.
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import type { TestResponse } from './client.js';
import { expectErrorContract } from './contract.js';
import { AUDIENCE, startHarness, type Harness } from './gateway.js';
import { testPki, type TestPki } from './pki.js';
import { startFakeAs, type FakeAs } from './fake-as.js';

export interface OpaqueWorld {
  pki: TestPki;
  as: FakeAs;
  h: Harness;
  /** an active RFC 7662 answer for a token bound to client1, with overrides */
  active(extra?: Record<string, unknown>): Record<string, unknown>;
  /** GET /op/x with this bearer token over mTLS (client1) */
  call(token: string): Promise<TestResponse>;
  close(): Promise<void>;
}

export async function startOpaqueWorld(introspection: Record<string, unknown> = {}): Promise<OpaqueWorld> {
  const pki = await testPki();
  const as = await startFakeAs({ pki });
  const h = await startHarness({
    routes: [{ id: 'op', match: { methods: ['GET'], path_prefix: '/op' }, auth: { issuers: ['op'] } }],
    patch: (c) => {
      const dir = dirname(c.issuers.main.ca_file as string);
      c.issuers.op = {
        issuer: as.origin,
        ca_file: c.issuers.main.ca_file,
        token_format: 'opaque',
        introspection: {
          endpoint: `${as.origin}/introspect`,
          client_id: 'gw',
          auth: 'tls_client_auth',
          cert_file: join(dir, 'client1.crt'),
          key_file: join(dir, 'client1.key'),
          timeout_ms: 500,
          cache_max_s: 0,
          negative_cache_s: 0,
          ...introspection,
        },
      };
      if (introspection.endpoint === undefined && 'endpoint' in introspection) delete c.issuers.op.introspection.endpoint;
    },
  });
  return {
    pki,
    as,
    h,
    active: (extra = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return { active: true, iss: as.origin, aud: AUDIENCE, sub: 'user-1', client_id: 'tpp-1', scope: 'accounts', exp: now + 300, cnf: { 'x5t#S256': pki.client1.x5tS256 }, token_type: 'Bearer', ...extra };
    },
    call: (token) => h.call('/op/x', { cert: pki.client1, headers: [['Authorization', `Bearer ${token}`]] }),
    async close() {
      await h.close();
      await as.close();
    },
  };
}

/** E9: 503 temporarily_unavailable with Retry-After, no challenge, nothing forwarded. */
export function expect503(r: TestResponse): void {
  expectErrorContract(r, 503, 'temporarily_unavailable');
  expect(r.headers['retry-after']).toMatch(/^\d+$/);
  expect(r.headers['www-authenticate']).toBeUndefined();
}
