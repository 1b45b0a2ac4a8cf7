// The OpenID conformance suite's fapi2-security-profile-final-dpop-negative-tests module (§16.4,
// CONF-D1..CONF-D32) as one table: each case starts from a fresh valid proof and changes one thing.
// The suite accepts 400 or 401 for refusals; we pin our exact answer (§19 Q-1) and its challenge.
// The route accepts DPoP only, so the DPoP challenge is the one listed (ERR-7), except that a request
// using Bearer gets the error on a Bearer challenge beside a bare DPoP one (M4, Q-5).
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { redisPatch } from '../support/dpop-caller.js';
import { cnfJkt } from '../support/issuer.js';
import { SHARED_REDIS_URL, uniquePrefix, withRedis } from '../support/redis.js';

const PATH = '/dpop/resource';
const HTU = `${PUBLIC_ORIGIN}${PATH}`;
let h: Harness;
let key: DpopKey;
let rsaKey: DpopKey;
beforeAll(async () => {
  // As the suite meets a deployment: a shared replay store that has remembered for a while. (A process
  // just started with the memory store refuses proofs issued before its start, DPOP-21, so CONF-10's
  // iat - 10 s passes only 10 s after a restart.)
  const prefix = uniquePrefix('conformance-dpop');
  await withRedis(SHARED_REDIS_URL, (r) => r.set(`${prefix}epoch`, String(Date.now() - 600_000)));
  h = await startHarness({
    patch: (c) => {
      redisPatch(prefix)(c);
      c.dpop = { ...c.dpop, iat_future_s: 10 }; // the default, which CONF-9's iat + 8 s needs
    },
    env: { TEST_REDIS_URL: SHARED_REDIS_URL },
  });
  key = await dpopKey('ES256');
  rsaKey = await dpopKey('PS256');
});
afterAll(async () => {
  await h?.close();
});

interface Ctx {
  token: string;
  k: DpopKey;
}
type Expect = { status: 200 } | { status: 400 | 401; scheme: 'DPoP' | 'Bearer'; error: string };
interface Case {
  id: string;
  change: string;
  headers: (c: Ctx) => Promise<[string, string][]>;
  expect: Expect;
  key?: () => DpopKey;
}

const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const auth = (c: Ctx, scheme = 'DPoP'): [string, string] => ['Authorization', `${scheme} ${c.token}`];
const valid = (c: Ctx, o: Partial<Parameters<typeof proof>[1]> = {}) => proof(c.k, { htm: 'GET', htu: HTU, token: c.token, ...o });
const one = async (c: Ctx, p: Promise<string> | string): Promise<[string, string][]> => [auth(c), ['DPoP', await p]];
const proofInvalid: Expect = { status: 401, scheme: 'DPoP', error: 'invalid_dpop_proof' };
const now = () => Math.floor(Date.now() / 1000);
const FIXED_JTI = randomUUID();

const CASES: Case[] = [
  { id: 'CONF-D1', change: 'header name DPOP (all caps)', headers: async (c) => [auth(c), ['DPOP', await valid(c)]], expect: { status: 200 } },
  { id: 'CONF-D2', change: 'two DPoP header fields', headers: async (c) => [auth(c), ['DPoP', await valid(c)], ['DPoP', await valid(c)]], expect: proofInvalid },
  { id: 'CONF-D3', change: 'signature segment removed', headers: async (c) => one(c, (await valid(c)).split('.').slice(0, 2).join('.')), expect: proofInvalid },
  { id: 'CONF-D4', change: 'typ removed', headers: (c) => one(c, valid(c, { header: { typ: undefined } })), expect: proofInvalid },
  {
    id: 'CONF-D5',
    change: 'alg renamed to alg2 (signature then also wrong)',
    headers: async (c) => {
      const [hd, pl, sig] = (await valid(c)).split('.') as [string, string, string];
      const header = JSON.parse(Buffer.from(hd, 'base64url').toString()) as Record<string, unknown>;
      header.alg2 = header.alg;
      delete header.alg;
      return one(c, `${enc(header)}.${pl}.${sig}`);
    },
    expect: proofInvalid,
  },
  { id: 'CONF-D6', change: 'jwk removed', headers: (c) => one(c, valid(c, { header: { jwk: undefined } })), expect: proofInvalid },
  { id: 'CONF-D7', change: 'jti removed', headers: (c) => one(c, valid(c, { claims: { jti: undefined } })), expect: proofInvalid },
  { id: 'CONF-D8', change: 'htm removed', headers: (c) => one(c, valid(c, { claims: { htm: undefined } })), expect: proofInvalid },
  { id: 'CONF-D9', change: 'htu removed', headers: (c) => one(c, valid(c, { claims: { htu: undefined } })), expect: proofInvalid },
  { id: 'CONF-D10', change: 'iat removed', headers: (c) => one(c, valid(c, { claims: { iat: undefined } })), expect: proofInvalid },
  { id: 'CONF-D11', change: 'ath omitted', headers: (c) => one(c, valid(c, { claims: { ath: undefined } })), expect: proofInvalid },
  { id: 'CONF-D12', change: 'typ dpop+jwt+wrongyousee', headers: (c) => one(c, valid(c, { header: { typ: 'dpop+jwt+wrongyousee' } })), expect: proofInvalid },
  {
    id: 'CONF-D13',
    change: 'RS256 signature with an RSA key',
    key: () => rsaKey,
    headers: async (c) => {
      const claims = { jti: randomUUID(), htm: 'GET', htu: HTU, iat: now(), ath: createHash('sha256').update(c.token).digest('base64url') };
      // Same RSA key as the token's jkt, but signed RSASSA-PKCS1-v1_5 (RS256), which FAPI refuses.
      const { privateKey } = await importRsaForRs256(c.k);
      return one(c, new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: c.k.publicJwk }).sign(privateKey));
    },
    expect: proofInvalid,
  },
  { id: 'CONF-D14', change: 'alg none, unsigned', headers: async (c) => one(c, `${enc({ alg: 'none', typ: 'dpop+jwt', jwk: c.k.publicJwk })}.${enc({ jti: randomUUID(), htm: 'GET', htu: HTU, iat: now() })}.`), expect: proofInvalid },
  {
    id: 'CONF-D15',
    change: 'corrupted signature',
    headers: async (c) => {
      const p = await valid(c);
      const last = p.at(-2) === 'A' ? 'B' : 'A';
      return one(c, `${p.slice(0, -2)}${last}${p.at(-1)}`);
    },
    expect: proofInvalid,
  },
  { id: 'CONF-D16', change: 'jwk holds the private key', headers: (c) => one(c, valid(c, { header: { jwk: c.k.privateJwk } })), expect: proofInvalid },
  { id: 'CONF-D17', change: 'htm PUT', headers: (c) => one(c, valid(c, { htm: 'PUT' })), expect: proofInvalid },
  { id: 'CONF-D18', change: 'htu + ?query#fragment', headers: (c) => one(c, valid(c, { htu: `${HTU}?a=b#c` })), expect: { status: 200 } },
  { id: 'CONF-D19', change: 'htu without the request query', headers: (c) => one(c, valid(c, { htu: HTU })), expect: { status: 200 } },
  { id: 'CONF-D20', change: 'htu path + ohnonotagain', headers: (c) => one(c, valid(c, { htu: `${HTU}ohnonotagain` })), expect: proofInvalid },
  { id: 'CONF-D21', change: 'iat now + 1 h', headers: (c) => one(c, valid(c, { claims: { iat: now() + 3600 } })), expect: proofInvalid },
  { id: 'CONF-D22', change: 'iat now - 1 h', headers: (c) => one(c, valid(c, { claims: { iat: now() - 3600 } })), expect: proofInvalid },
  { id: 'CONF-D23', change: 'fixed jti, first use', headers: (c) => one(c, valid(c, { claims: { jti: FIXED_JTI } })), expect: { status: 200 } },
  { id: 'CONF-D24', change: 'same jti again', headers: (c) => one(c, valid(c, { claims: { jti: FIXED_JTI } })), expect: proofInvalid },
  { id: 'CONF-D25', change: 'wrong ath', headers: (c) => one(c, valid(c, { claims: { ath: createHash('sha256').update('x').digest('base64url') } })), expect: proofInvalid },
  {
    id: 'CONF-D26',
    change: 'proof signed by a freshly generated key',
    headers: async (c) => one(c, proof(await dpopKey('ES256'), { htm: 'GET', htu: HTU, token: c.token })),
    expect: { status: 401, scheme: 'DPoP', error: 'invalid_token' },
  },
  { id: 'CONF-D27', change: 'extra header tx_id and claim tx_id_key', headers: (c) => one(c, valid(c, { header: { tx_id: 'x' }, claims: { tx_id_key: 'y' } })), expect: { status: 200 } },
  { id: 'CONF-D28', change: 'htu scheme and host upper-cased', headers: (c) => one(c, valid(c, { htu: HTU.replace('https://api.test', 'HTTPS://API.TEST') })), expect: { status: 200 } },
  { id: 'CONF-D29', change: 'htu with explicit :443', headers: (c) => one(c, valid(c, { htu: HTU.replace('api.test', 'api.test:443') })), expect: { status: 200 } },
  { id: 'CONF-D30', change: 'no DPoP header, Authorization: DPoP', headers: async (c) => [auth(c)], expect: { status: 400, scheme: 'DPoP', error: 'invalid_request' } },
  { id: 'CONF-D31', change: 'no DPoP header, Authorization: Bearer', headers: async (c) => [auth(c, 'Bearer')], expect: { status: 401, scheme: 'Bearer', error: 'invalid_token' } },
  { id: 'CONF-D32', change: 'final valid proof (sanity)', headers: (c) => one(c, valid(c)), expect: { status: 200 } },
  { id: 'CONF-9', change: 'iat now + 8 s', headers: (c) => one(c, valid(c, { claims: { iat: now() + 8 } })), expect: { status: 200 } },
  { id: 'CONF-10', change: 'iat now - 10 s', headers: (c) => one(c, valid(c, { claims: { iat: now() - 10 } })), expect: { status: 200 } },
  { id: 'CONF-11', change: 'nbf now, exp now + 5 min', headers: (c) => one(c, valid(c, { claims: { nbf: now(), exp: now() + 300 } })), expect: { status: 200 } },
];

/** The RSA key of the token's jkt, imported for RSASSA-PKCS1-v1_5 so it can sign RS256. */
async function importRsaForRs256(k: DpopKey): Promise<{ privateKey: webcrypto.CryptoKey }> {
  const privateKey = await crypto.subtle.importKey('jwk', { ...k.privateJwk, alg: 'RS256' }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  return { privateKey };
}

describe('OpenID conformance: DPoP negative tests (§16.4) against the resource endpoint', () => {
  for (const c of CASES) {
    it(`${c.id}: ${c.change} -> ${c.expect.status}${'error' in c.expect ? ` ${c.expect.scheme} ${c.expect.error}` : ''}`, async () => {
      const k = c.key?.() ?? key;
      const token = await h.issuer.mint({ cnf: cnfJkt(k.jkt) });
      const before = h.upstream.received.length;
      const r = await h.call(PATH, { headers: await c.headers({ token, k }) });
      expect(r.status).toBe(c.expect.status);
      if ('error' in c.expect) {
        const challenges = r.headersDistinct['www-authenticate'] ?? [];
        const carrying = expect.stringMatching(new RegExp(`^${c.expect.scheme} realm="api.test", error="${c.expect.error}"`));
        expect(challenges).toEqual(c.expect.scheme === 'DPoP' ? [carrying] : [carrying, expect.stringMatching(/^DPoP realm="api.test", algs="[^"]+"$/)]);
        expect(h.upstream.received.length).toBe(before);
      } else {
        expect(h.upstream.received.length).toBe(before + 1);
      }
    });
  }
});
