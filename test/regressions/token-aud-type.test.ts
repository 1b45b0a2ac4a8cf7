// JWT-7 / JWT-10 / JWT-13: a correctly signed access token whose claims have the wrong JSON type is an
// invalid token (401 invalid_token), never a gateway fault. jose type-checks exp/nbf/iat and compares iss,
// but it does not look at `aud` when no `audience` option is given; the validator then spread a number,
// boolean or object `aud` into an array and the TypeError surfaced as 500 server_error.
// Every claim the validator reads is in the table, so a new unchecked read shows up as a row that differs.
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { challenges } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { AUDIENCE, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';

let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

interface Row {
  readonly claim: string;
  readonly value: unknown;
  /** 401 invalid_token, or 200 for claims that are only optional inputs (acr, auth_time: ignored when not the right type). */
  readonly status: 401 | 200;
}

const refused = (claim: string, ...values: unknown[]): Row[] => values.map((value) => ({ claim, value, status: 401 }));
const ignored = (claim: string, ...values: unknown[]): Row[] => values.map((value) => ({ claim, value, status: 200 }));

const TABLE: readonly Row[] = [
  // JWT-7: a string or an array of strings, nothing else; the route's audience inside does not rescue it.
  ...refused('aud', 5, 0, true, false, {}, { [AUDIENCE]: true }, [5], [AUDIENCE, 5], [{}, AUDIENCE], null, []),
  // JWT-10: the other required claims with the wrong type.
  ...refused('iss', 5, {}, [], null),
  ...refused('sub', 5, {}, true, null),
  ...refused('client_id', 5, {}, [], null),
  ...refused('jti', 5, {}, null),
  ...refused('exp', '9999999999', {}, null, true),
  ...refused('iat', '0', {}, null),
  ...refused('nbf', '0', {}, null, false),
  // JWT-14: scope is a space-delimited string.
  ...refused('scope', 5, ['accounts'], {}),
  // TOK-2: cnf is an object; the binding check needs it (the right thumbprint under a wrong type does not bind).
  ...refused('cnf', 5, 'x', [], null),
  // JWT-14 step-up inputs: on a route without step-up they are read but unused; never a 500.
  ...ignored('acr', 5, {}, ['urn:acr']),
  ...ignored('auth_time', '1700000000', {}, true),
];

interface Seen {
  readonly claim: string;
  readonly value: string;
  readonly status: number;
  readonly error?: string;
  readonly challenge?: boolean;
}

/** What the gateway answered: status, and for a refusal the body's error and whether the scheme used carries invalid_token. */
function seen(row: Row, r: TestResponse, scheme: 'Bearer' | 'DPoP'): Seen {
  const base = { claim: row.claim, value: JSON.stringify(row.value), status: r.status };
  if (r.status === 200) return base;
  return {
    ...base,
    error: (r.json() as { error?: string }).error,
    challenge: challenges(r).some((c) => c.startsWith(`${scheme} `) && c.includes('error="invalid_token"')),
  };
}

const expected = (row: Row): Seen => ({
  claim: row.claim,
  value: JSON.stringify(row.value),
  status: row.status,
  ...(row.status === 401 && { error: 'invalid_token', challenge: true }),
});

describe('JWT-7 / JWT-10 / JWT-13: claims of the wrong JSON type in a signed token', () => {
  it('JWT-7 / JWT-10 / JWT-13: mTLS route: aud 5, {}, true (and every other wrongly typed claim) -> 401 invalid_token, never 500', async () => {
    const got: Seen[] = [];
    for (const row of TABLE) {
      const claims = { cnf: cnfX5t(h.pki.client1.x5tS256), [row.claim]: row.value };
      const token = await h.issuer.mint(claims);
      const r = await h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
      got.push(seen(row, r, 'Bearer'));
    }
    expect(got).toEqual(TABLE.map(expected));
  });

  it('JWT-7 / JWT-10 / JWT-13: DPoP route: aud 5, {}, true (and every other wrongly typed claim) -> 401 invalid_token, never 500', async () => {
    const got: Seen[] = [];
    for (const row of TABLE) {
      const claims = { cnf: cnfJkt(key.jkt), [row.claim]: row.value };
      const token = await h.issuer.mint(claims);
      const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/1`, token });
      const r = await h.call('/dpop/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
      got.push(seen(row, r, 'DPoP'));
    }
    expect(got).toEqual(TABLE.map(expected));
  });

  it('JWT-8 / JWT-9: exp, iat or nbf of 1e400 (Infinity once parsed: a token that would never expire) -> 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { iss: h.issuer.issuer, aud: AUDIENCE, sub: 'user-1', client_id: 'client-1', scope: 'accounts', jti: 'j', cnf: cnfX5t(h.pki.client1.x5tS256) };
    const k = h.issuer.current;
    for (const [claim, raw] of [['exp', `"iat":${now},"exp":1e400`], ['iat', `"iat":1e400,"exp":${now + 300}`], ['nbf', `"iat":${now},"exp":${now + 300},"nbf":-1e400`]] as const) {
      // JSON.stringify cannot write 1e400, so the payload is written by hand and signed with the issuer's key.
      const payload = `${JSON.stringify({ ...base, jti: claim }).slice(0, -1)},${raw}}`;
      const token = await new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt' }).sign(k.privateKey);
      const r = await h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
      expect(r.status, claim).toBe(401);
      expect((r.json() as { error?: string }).error, claim).toBe('invalid_token');
    }
  });
});
