// Regression (failed before the fix), review of e920443 (INT-3 introspection.require_audience). README: "false only for an AS that never
// returns aud ... an `aud` it does return is still checked". An answer that does carry `aud`, as an
// empty array, names no audience at all; it must not pass as "no aud".
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfX5t } from '../support/issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';

let pki: TestPki;
let files: PkiFiles;
let as: IntrospectionAs;
let h: Harness;

beforeAll(async () => {
  pki = await testPki();
  files = await writePki(undefined, pki);
  as = await startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } });
  h = await startHarness({
    routes: [{ id: 'op-noaud', match: { methods: ['GET'], path_prefix: '/opn' }, auth: { issuers: ['op-noaud'] } }],
    patch: (c) => {
      c.issuers['op-noaud'] = {
        issuer: as.issuer,
        ca_file: files.caFile,
        token_format: 'opaque',
        introspection: { client_id: 'gw-mtls', auth: 'tls_client_auth', cert_file: files.client1CertFile, key_file: files.client1KeyFile, require_audience: false },
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const call = (token: string, iid: string) =>
  h.call('/opn/x', { cert: pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });

describe('review INT-3 require_audience: false', () => {
  it('sanity: no aud -> 200, another aud -> 401', async () => {
    expect((await call(as.issueOpaque({ cnf: cnfX5t(pki.client1.x5tS256), token_type: 'Bearer', aud: undefined }), randomUUID())).status).toBe(200);
    expect((await call(as.issueOpaque({ cnf: cnfX5t(pki.client1.x5tS256), token_type: 'Bearer', aud: 'https://other.test' }), randomUUID())).status).toBe(401);
  });

  it('INT-3 an answer that returns aud as an empty array (names no audience, not this RS) -> 401 (GW_TOKEN_AUDIENCE or GW_TOKEN_INVALID), not forwarded', async () => {
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const r = await call(as.issueOpaque({ cnf: cnfX5t(pki.client1.x5tS256), token_type: 'Bearer', aud: [] }), iid);
    expect(r.status).toBe(401);
    expect(['GW_TOKEN_AUDIENCE', 'GW_TOKEN_INVALID']).toContain((await logFor(h, iid))?.reason);
    expect(h.upstream.received.length).toBe(before);
  });
});
