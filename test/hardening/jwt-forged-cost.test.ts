// Review "amplify" (JWT-2, JWT-4, CRED-8; README "Logs and metrics": exactly one line per request):
// pins what forged access tokens cost on a JWT route. A client with no valid token sends, over
// keep-alive, 8 KB-class JWTs naming the route's issuer: the published kid with a garbage signature,
// a fresh random kid each time (JWT-4 kid misses), no kid at all (the rotation refetch of a kidless
// token), and a payload nested ~2,000 levels deep. Measured here: ~0.6-1.1 ms of CPU per refused
// request (client and gateway together), at most one JWKS refetch per cooldown for all of them, and one
// log line each. Nothing in this file failed on the code reviewed; it pins the bounds.
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64url');

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function forged(header: Record<string, unknown>, payloadJson: string): string {
  return `${b64(JSON.stringify(header))}.${b64(payloadJson)}.${randomBytes(64).toString('base64url')}`;
}

function bigPayload(): string {
  const now = Math.floor(Date.now() / 1000);
  // ~5.5 KB of claims: 700 scopes and 100 extra members; base64url brings the token under 8192 characters.
  const extra = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`c${i}`, i]));
  return JSON.stringify({ iss: h.issuer.issuer, aud: 'https://api.test', sub: 'x', client_id: 'x', jti: randomUUID(), iat: now, exp: now + 300, scope: Array.from({ length: 700 }, (_, i) => `s${i}`).join(' '), ...extra });
}

async function run(name: string, make: () => string, n = 300): Promise<{ cpuMs: number; statuses: Set<number>; ids: string[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const ids: string[] = [];
  const statuses = new Set<number>();
  const tokens = Array.from({ length: n }, make);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += 4) {
    await Promise.all(
      tokens.slice(i, i + 4).map(async (t) => {
        const id = randomUUID();
        ids.push(id);
        const r = await h.call('/accounts/1', { agent, headers: [['Authorization', `Bearer ${t}`], ['x-fapi-interaction-id', id]] });
        statuses.add(r.status);
      }),
    );
  }
  const c = process.cpuUsage(c0);
  agent.destroy();
  const cpuMs = (c.user + c.system) / 1000 / n;
  console.log(`${name}: ${cpuMs.toFixed(3)} ms CPU per refused request (client and gateway), statuses ${[...statuses].join(',')}, token ${tokens[0]?.length} chars`);
  return { cpuMs, statuses, ids };
}

describe('amplify: forged JWTs cost a bounded, small amount each', () => {
  it('known kid + garbage signature, random kids, no kid, and a deeply nested payload: <= 3 ms CPU each, at most one JWKS refetch, one log line per request', async () => {
    const kid = h.issuer.current.kid;
    const alg = h.issuer.current.alg;
    const fetchesBefore = h.issuer.jwksFetches;
    const results = [
      await run('known kid', () => forged({ alg, typ: 'at+jwt', kid }, bigPayload())),
      await run('random kid', () => forged({ alg, typ: 'at+jwt', kid: randomUUID() }, bigPayload())),
      await run('no kid', () => forged({ alg, typ: 'at+jwt' }, bigPayload())),
      await run('nested 2000 deep', () => forged({ alg, typ: 'at+jwt', kid }, `{"iss":${JSON.stringify(h.issuer.issuer)},"x":${'['.repeat(2000)}${']'.repeat(2000)}}`)),
    ];
    const fetches = h.issuer.jwksFetches - fetchesBefore;
    console.log(`JWKS fetches for ${results.length * 300} forged tokens: ${fetches}`);
    for (const r of results) {
      expect([...r.statuses]).toEqual([401]);
      expect(r.cpuMs).toBeLessThanOrEqual(3);
    }
    // The first fetch (made on demand here) and, jwks_refetch_cooldown_s 30, one refetch for an unknown
    // kid (the kidless ones share the cooldown): never one per forged token.
    expect(fetches).toBeLessThanOrEqual(2);
    // Exactly one request line per refused request; the log batches flush within a second.
    await new Promise((r) => setTimeout(r, 1200));
    const lines = h.logLines();
    for (const r of results) {
      const byId = new Map<string, number>();
      for (const l of lines) if (typeof l.interaction_id === 'string') byId.set(l.interaction_id, (byId.get(l.interaction_id) ?? 0) + 1);
      expect(r.ids.every((id) => byId.get(id) === 1)).toBe(true);
    }
    // Other lines: at most one per JWKS fetch (the first, and one refetch for an unknown kid).
    expect(lines.filter((l) => l.interaction_id === undefined && l.msg !== 'listening' && !/start|ready|listen/i.test(String(l.msg))).length).toBeLessThanOrEqual(2);
  });
});
