// Found in review (fixed; the test failed before): PRM-2 / PRM-5 (RFC 9728 §3.1, §3.3). Two route
// audiences that differ only in what RFC 9728 §3.1 drops when building the well-known URL (a trailing `/`
// after the host) or in what URL parsing normalises (host case) map to ONE metadata URL. The gateway served
// one document there (the last audience won) yet advertised that URL in the 401 challenges of both routes, so the
// other route's clients get `resource` != the identifier their tokens must carry in `aud` (TOK-5 is an
// exact compare): per §3.3 they must discard the metadata, or worse, request tokens for the wrong `aud`.
// Now neither identifier of a clash is published (and `check` says so); another host case is not published.
import { afterAll, describe, expect, it } from 'vitest';
import { challenges } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';

const param = (challenge: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];

const started: Harness[] = [];
afterAll(async () => {
  for (const h of started) await h.close();
});

/** Starts a gateway with two routes (/a, /b) and the given audiences; undefined when the config is refused. */
async function gateway(audA: string, audB: string): Promise<Harness | undefined> {
  try {
    const h = await startHarness({
      patch: (c) => {
        c.resource_metadata = {};
        const upstream = { url: c.routes[0].upstream.url };
        c.routes = [
          { id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: audA, binding: 'any' }, upstream },
          { id: 'b', match: { methods: ['GET'], path_prefix: '/b' }, auth: { issuers: ['main'], audience: audB, binding: 'any' }, upstream },
        ];
      },
    });
    started.push(h);
    return h;
  } catch (e) {
    // Refusing the ambiguous config at load is an acceptable fix.
    expect(String(e)).toMatch(/audience|resource|metadata/i);
    return undefined;
  }
}

describe('PRM-2 / PRM-5: the document behind every advertised resource_metadata URL names that route\'s own audience', () => {
  for (const [what, audA, audB] of [
    ['root with and without a trailing slash', 'https://api.test', 'https://api.test/'],
    ['host written in another case', 'https://api.test/x', 'https://API.test/x'],
  ] as const) {
    it(`PRM-2 ${what}: ${audA} vs ${audB}`, async () => {
      const h = await gateway(audA, audB);
      if (h === undefined) return;
      for (const [path, audience] of [['/a/1', audA], ['/b/1', audB]] as const) {
        const r = await h.call(path);
        expect(r.status).toBe(401);
        const url = param(challenges(r)[0] ?? '', 'resource_metadata');
        if (url === undefined) continue; // not advertised for this route: consistent
        const doc = await h.call(new URL(url).pathname);
        expect(doc.status, `${url} advertised for ${path}`).toBe(200);
        expect((doc.json() as { resource: string }).resource, `document at ${url}, advertised on ${path} (audience ${audience})`).toBe(audience);
      }
    });
  }
});
