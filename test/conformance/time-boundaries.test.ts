// Review "time and clocks" (these passed when written): JWT-8 / JWT-9 / Q-3 exact boundaries and odd NumericDate values against the real gateway
// (real TLS, real issuer keys, mTLS-bound tokens). Leeway is the default clock_leeway_s: 10.
// RFC 7519 §4.1.4: reject on or after exp (here exp + leeway); §4.1.5: reject before nbf (nbf - leeway).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.issuers.main.max_token_age_s = 3600) });
});
afterAll(async () => {
  await h?.close();
});

const LEEWAY = 10;

/** Waits for the start of the next second, so a token minted now is judged within the same second. */
async function startOfSecond(): Promise<number> {
  await sleep(1000 - (Date.now() % 1000) + 5);
  return Math.floor(Date.now() / 1000);
}

async function status(claims: Record<string, unknown>, payloadText?: (json: string) => string): Promise<{ status: number; reason?: string }> {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims }, payloadText === undefined ? {} : { payloadText });
  const r = await h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
  if (r.status === 200) return { status: 200 };
  const line = await logFor(h, r.headers['x-fapi-interaction-id'] as string);
  return { status: r.status, reason: line?.reason as string | undefined };
}

describe('JWT-8 / JWT-9 exact boundaries (pins: not tested elsewhere at the edge)', () => {
  it('JWT-8: exp + leeway == now -> 401 (RFC 7519: on or after); one second before that -> 200', async () => {
    const now = await startOfSecond();
    expect(await status({ iat: now - 100, exp: now - LEEWAY + 1 })).toEqual({ status: 200 });
    expect(await status({ iat: now - 100, exp: now - LEEWAY })).toEqual({ status: 401, reason: 'GW_TOKEN_EXPIRED' });
  });

  it('JWT-9: nbf == now + leeway -> 200, one second later -> 401; iat == now + leeway -> 200, one second later -> 401', async () => {
    const now = await startOfSecond();
    expect(await status({ nbf: now + LEEWAY + 1 })).toEqual({ status: 401, reason: 'GW_TOKEN_EXPIRED' });
    expect(await status({ iat: now + LEEWAY + 1, exp: now + 300 })).toEqual({ status: 401, reason: 'GW_TOKEN_EXPIRED' });
    expect(await status({ nbf: now + LEEWAY })).toEqual({ status: 200 });
    expect(await status({ iat: now + LEEWAY, exp: now + 300 })).toEqual({ status: 200 });
  });

  it('Q-3 max_token_age_s: exp - iat == max_token_age_s -> 200, one second more -> 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await status({ iat: now - 60, exp: now - 60 + 3600 })).toEqual({ status: 200 });
    expect(await status({ iat: now - 60, exp: now - 60 + 3601 })).toEqual({ status: 401, reason: 'GW_TOKEN_EXPIRED' });
  });
});

describe('JWT-8 / JWT-10 odd NumericDates: exact refusals, never a 5xx (pins)', () => {
  it('floats, -0, huge, past 2^53, wrong types', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, unknown>, number, ((json: string) => string)?][] = [
      ['exp a float in the future', { exp: now + 300.5 }, 200],
      ['iat a float (now + 0.9)', { iat: now + 0.9 }, 200],
      ['nbf -0', { nbf: -0 }, 200],
      ['exp -0', { exp: -0 }, 401],
      ['exp 1e20 (lifetime over max_token_age_s)', { exp: 1e20 }, 401],
      ['iat -1 (lifetime over max_token_age_s)', { iat: -1 }, 401],
      ['nbf past 2^53', { nbf: 2 ** 53 + 2 }, 401],
      ['exp a numeric string', { exp: String(now + 300) }, 401],
      ['exp null', { exp: null }, 401],
      ['iat 1e400 (Infinity once parsed)', {}, 401, (j) => j.replace(/"iat":\d+/, '"iat":1e400')],
      ['exp -1e400', {}, 401, (j) => j.replace(/"exp":\d+/, '"exp":-1e400')],
    ];
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    for (const [what, claims, expected, text] of cases) {
      got[what] = (await status(claims, text)).status;
      want[what] = expected;
    }
    expect(got).toEqual(want);
  });
});
