// Found in review (fixed; the test failed before): DPOP-21. The Helm chart defaults to replay.store: memory and refuses replicaCount > 1
// with it ("run exactly one replica"), but its Deployment always rolls with RollingUpdate maxSurge: 1,
// maxUnavailable: 0, and every config change rolls
// the pod (checksum/config). During each rollout two pods with two separate memory stores serve behind
// the Service: a proof used at one is accepted at the other (the first part shows that with two real
// gateways). Now, with the memory store the chart renders strategy Recreate.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { caller } from '../support/dpop-caller.js';

const deployment = readFileSync(new URL('../../helm/fapi-gateway/templates/deployment.yaml', import.meta.url), 'utf8');
const values = readFileSync(new URL('../../helm/fapi-gateway/values.yaml', import.meta.url), 'utf8');

let issuer: TestIssuer;
let upstream: TestUpstream;
let oldPod: Harness;
let newPod: Harness;
beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  oldPod = await startHarness({ issuer, upstream });
  newPod = await startHarness({ issuer, upstream });
});
afterAll(async () => {
  await oldPod?.close();
  await newPod?.close();
  await issuer?.close();
  await upstream?.close();
});

describe('DPOP-21 Helm rollout with the memory replay store', () => {
  it('DPOP-21: the chart never runs two memory-store pods at once (no surge during a rollout)', async () => {
    expect(values).toMatch(/^\s+store: memory$/m); // the chart's default
    // What a surge rollout means: the old and the new pod both behind the Service, each with its own store.
    const c = await caller(issuer);
    const { token, proof: p } = await c.fresh();
    expect((await c.send(oldPod, token, p)).status).toBe(200);
    const atNewPod = (await c.send(newPod, token, p)).status;
    expect(atNewPod).toBe(200); // accepted twice: why the chart must not surge with this store

    const strategy = /strategy:[\s\S]*?(?=\n  template:)/.exec(deployment)?.[0] ?? '';
    const surgesAlways = /maxSurge:\s*1/.test(strategy) && !/replay|store|Recreate/.test(strategy);
    expect(surgesAlways, `deployment strategy with the memory store:\n${strategy}`).toBe(false);
  });
});
