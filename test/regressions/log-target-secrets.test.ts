// Found in review (fixed; the test failed before): TOK-10 (never log access tokens) and the README promise "Tokens, proofs, keys and certificates are never
// logged" / "for a refusal before the path could be parsed, the target as sent, without its query".
// Bug: pathAsSent (src/gateway.ts:94-99) removes only what follows the first `?`. A request target that
// carries a credential in a fragment (`/accounts/1#access_token=<JWT>`, what an implicit-flow redirect
// URL looks like when a client library pastes it into a request) or in the userinfo of an absolute-form
// target (`https://tpp:<secret>@api.test/...`) is refused with 400 GW_PATH_AMBIGUOUS, and the whole
// credential is written into the log line's `path` (src/gateway.ts:574, `pathAsSent(req.url)`).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const idOf = (response: string): string => /x-fapi-interaction-id: ([0-9a-f-]{36})/i.exec(response)?.[1] as string;

describe('TOK-10: a credential in the request target of a refused request never reaches the log', () => {
  it('an opaque access token in a fragment (#access_token=...) is not logged', async () => {
    const opaque = randomBytes(32).toString('base64url');
    const { response } = await h.raw(`GET /accounts/1#access_token=${opaque}&token_type=Bearer HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n`, 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response));
    expect(line).toMatchObject({ reason: 'GW_PATH_AMBIGUOUS' });
    // The refused path is still traceable, without what follows the `#`.
    expect(String(line?.path)).toContain('/accounts/1');
    expect(JSON.stringify(line)).not.toContain(opaque);
  });

  it('a JWT access token in a fragment is not logged (not even its header and claims)', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    const { response } = await h.raw(`GET /accounts/1#access_token=${token} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n`, 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response));
    expect(line).toMatchObject({ reason: 'GW_PATH_AMBIGUOUS' });
    // The same scan as test/hardening/log-hygiene.test.ts: no JWS header.payload run in a line.
    expect(JSON.stringify(line)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/);
  });

  it('a password in the userinfo of an absolute-form target is not logged', async () => {
    const secret = 'tpp-client-secret-0123456789abcdef';
    const { response } = await h.raw(`GET https://tpp:${secret}@api.test/accounts/1 HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n`, 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response));
    expect(line).toMatchObject({ reason: 'GW_PATH_AMBIGUOUS' });
    expect(JSON.stringify(line)).not.toContain(secret);
  });

  it('(holds) the query of an absolute-form target is not logged', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    const { response } = await h.raw(`GET https://api.test/accounts/1?access_token=${token} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n`, 2000);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const line = await logFor(h, idOf(response));
    expect(JSON.stringify(line)).not.toContain(token.split('.')[1]);
  });
});
