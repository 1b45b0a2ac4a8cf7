// Found in review (fixed; the test failed before): a reload that added an issuer whose JWKS was not
// reachable yet (an AS being onboarded, a jwks_uri typo `check` cannot see) turned /readyz to 503 on a
// gateway whose other routes answered 200; every replica reloads the same ConfigMap, so the Service
// lost all its endpoints. Now the issuers' keys gate readiness until it is first ready (like the replay
// store), and the new issuer's routes answer 503 GW_JWKS_UNAVAILABLE by themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let h: Harness;
let second: TestIssuer;
beforeAll(async () => {
  h = await startHarness();
  second = await startIssuer({ pki: h.pki });
  second.mode = 'down';
}, 60_000);
afterAll(async () => {
  await h?.close();
  await second?.close();
});

describe('a reload adding an issuer whose JWKS is down', () => {
  it('existing routes keep answering 200 and /readyz stays 200', async () => {
    const ready = async () => fetch(`${h.adminUrl}/readyz`).then(async (r) => `${r.status} ${await r.text()}`.trim());
    for (let i = 0; i < 100 && !(await ready()).startsWith('200'); i++) await sleep(50);
    expect(await ready()).toBe('200 ready');
    h.reload((c) => {
      c.issuers.second = { issuer: second.issuer, jwks_uri: second.jwksUri, ca_file: c.issuers.main.ca_file };
      c.routes.push({ id: 'second', match: { methods: ['GET'], path_prefix: '/second' }, auth: { issuers: ['second'], audience: AUDIENCE, binding: 'mtls' }, upstream: { url: h.upstream.url } });
    });
    for (let i = 0; i < 100 && !h.logLines().some((l) => l.msg === 'jwks fetch failed'); i++) await sleep(20);
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    const old = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    expect(old.status).toBe(200);
    expect(await ready()).toBe('200 ready');
    // The new issuer's own routes fail closed by themselves.
    const fresh = await h.call('/second/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await second.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) })}`]] });
    expect(fresh.status).toBe(503);
  });
});
