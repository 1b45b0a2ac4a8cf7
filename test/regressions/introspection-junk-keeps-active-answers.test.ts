// Found in review (fixed; the test failed before): unauthenticated amplification (INT-6; README
// `introspection.cache_max_entries`): what a client holding no valid token (one client certificate,
// client2, and random opaque tokens) makes the gateway and its AS do on a `token_format: opaque` route.
// Every distinct unknown token is one call to the AS (RFC 7662 leaves no other way to learn it is
// unknown); that much is inherent and pinned below as "no more than one". The inactive answers to the
// junk went into the same bounded cache as the active answers of real clients, and eviction dropped
// "the oldest": a burst of cache_max_entries junk tokens evicted every real client's cached answer.
// Refusals are now kept apart, in a tenth of the room.
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { request, type TestResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { opaqueIssuer, startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { testPki, type Pem, type TestPki } from '../support/pki.js';

interface World {
  pki: TestPki;
  as: IntrospectionAs;
  h: Harness;
  call(token: string, cert: Pem, agent?: Agent): Promise<TestResponse>;
  close(): Promise<void>;
}

async function world(introspection: Record<string, unknown>): Promise<World> {
  const pki = await testPki();
  const as = await startIntrospectionAs({ client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 }, pki });
  const h = await startHarness({
    routes: [{ id: 'op', match: { methods: ['GET'], path_prefix: '/op' }, auth: { issuers: ['op'], binding: 'mtls' } }],
    patch: (c) => {
      const files = { caFile: c.issuers.main.ca_file, client1CertFile: c.issuers.main.ca_file.replace(/ca\.pem$/, 'client1.crt'), client1KeyFile: c.issuers.main.ca_file.replace(/ca\.pem$/, 'client1.key') };
      const op = opaqueIssuer(as, files as never) as { introspection: Record<string, unknown> };
      c.issuers.op = { ...op, introspection: { ...op.introspection, endpoint: as.mtlsIntrospectionEndpoint, ...introspection } };
    },
  });
  return {
    pki,
    as,
    h,
    call: (token, cert, agent) =>
      request(h.url('/op/x'), { ca: pki.ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem, agent, headers: [['Authorization', `Bearer ${token}`]] }),
    async close() {
      await h.close();
      await as.close();
    },
  };
}

const junk = (): string => randomBytes(24).toString('base64url');
const calls = (as: IntrospectionAs, token: string): number => as.calls.filter((c) => c.form.get('token') === token).length;

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('amplify: random opaque tokens from a client with one certificate', () => {
  it('pins: each distinct junk token costs exactly one AS call (no retries, no second issuer), and a repeated one none within negative_cache_s', async () => {
    w = await world({});
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const tokens = Array.from({ length: 300 }, junk);
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < tokens.length; i += 8) {
      statuses.push(...(await Promise.all(tokens.slice(i, i + 8).map(async (t) => (await w!.call(t, w!.pki.client2, agent)).status))));
    }
    const c = process.cpuUsage(c0);
    agent.destroy();
    console.log(
      `300 junk tokens: ${w.as.calls.length} AS calls, ${((c.user + c.system) / 1000 / 300).toFixed(2)} ms CPU per request ` +
        `(client, gateway and fake AS in one process), ${((Date.now() - t0) / 300).toFixed(2)} ms wall per request at concurrency 8`,
    );
    expect(statuses.every((s) => s === 401)).toBe(true);
    expect(w.as.calls.length).toBe(300);
    // The same junk again: answered from the negative cache.
    for (const t of tokens.slice(0, 20)) expect((await w.call(t, w.pki.client2)).status).toBe(401);
    expect(w.as.calls.length).toBe(300);
  });

  it('INT-6: junk tokens do not evict the cached answers of valid tokens (cache_max_entries: 100, 150 junk tokens)', async () => {
    w = await world({ cache_max_entries: 100, cache_max_s: 60, negative_cache_s: 10 });
    const valid = w.as.issueOpaque({ cnf: { 'x5t#S256': w.pki.client1.x5tS256 } });
    expect((await w.call(valid, w.pki.client1)).status).toBe(200);
    expect((await w.call(valid, w.pki.client1)).status).toBe(200);
    expect(calls(w.as, valid)).toBe(1);

    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const tokens = Array.from({ length: 150 }, junk);
    for (let i = 0; i < tokens.length; i += 8) await Promise.all(tokens.slice(i, i + 8).map((t) => w!.call(t, w!.pki.client2, agent)));
    agent.destroy();

    expect((await w.call(valid, w.pki.client1)).status).toBe(200);
    // Expected: still answered from the cache (cache_max_s 60 has not passed). Found: asked again,
    // because 150 inactive answers pushed it out as "the oldest".
    expect(calls(w.as, valid), 'AS calls for the valid token after a junk burst').toBe(1);
  });
});
