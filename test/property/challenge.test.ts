// Property-based: WWW-Authenticate rendering (errors/challenge.ts, errors/render.ts; RFC 6750 §3,
// RFC 9449 §7.1, RFC 9110 §11.6.1). Whatever the realm, algs and error parameters hold, every challenge
// matches the strict RFC grammar, parses back to the (filtered) values, carries each parameter once, and
// the error sits on the challenges the catalog says.
import { IncomingMessage, ServerResponse, validateHeaderValue } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CATALOG, type ErrorCode } from '../../src/errors/catalog.js';
import { buildChallenges, type ChallengeContext } from '../../src/errors/challenge.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { renderError } from '../../src/errors/render.js';
import type { AuthScheme } from '../../src/types.js';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { checkProperty } from '../../scripts/lib/hardening-property.js';

const fig = figures('property-challenge');

// RFC 9110 §5.6.2 token, §5.6.4 quoted-string, §11.2 auth-param, §11.6.1 challenge (no token68 form here).
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\xFF]|\\\\[\\t \\x21-\\x7E\\x80-\\xFF])*"';
const PARAM = `${TOKEN}[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED})`;
const CHALLENGE = new RegExp(`^(${TOKEN})(?: (${PARAM}(?:[ \\t]*,[ \\t]*${PARAM})*))?$`);
const PARAM_G = new RegExp(`(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})`, 'g');

/** Parses the auth-params of one challenge; the values unquoted. */
function parseParams(list: string): [string, string][] {
  const out: [string, string][] = [];
  for (const m of list.matchAll(PARAM_G)) {
    const raw = m[2] as string;
    out.push([(m[1] as string).toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw]);
  }
  return out;
}

const qdtextOnly = (s: string): string => s.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
const CODES = Object.keys(CATALOG) as ErrorCode[];
const RESERVED = new Set(['realm', 'error', 'error_description', 'algs']);
const anyText = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('a"b', 'a\\"', '\\', '"', '\r\nSet-Cookie: x=1', 'x, Basic realm="evil"', 'é', '\u0000'));
const paramName = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_-'.split('')), minLength: 1, maxLength: 10 }).filter((k) => !RESERVED.has(k));
const schemes = fc.constantFrom<AuthScheme[]>([], ['bearer'], ['dpop'], ['bearer', 'dpop'], ['dpop', 'bearer']);

const ctxArb: fc.Arbitrary<ChallengeContext> = fc.record({
  schemes,
  used: fc.constantFrom<AuthScheme | undefined>(undefined, 'bearer', 'dpop'),
  realm: anyText,
  dpopAlgs: fc.oneof(fc.subarray(['PS256', 'ES256', 'EdDSA', 'Ed25519']), fc.array(anyText, { maxLength: 3 })),
});
const errArb = fc
  .tuple(fc.constantFrom(...CODES), fc.dictionary(paramName, anyText, { maxKeys: 3 }))
  .map(([code, params]) => new GatewayError(code, 'detail', { params }));

describe('property: buildChallenges', () => {
  it('every challenge matches the RFC 9110 grammar, is a valid header value, and parses back to the filtered values', async () => {
    await checkProperty(
      fig,
      'buildChallenges: grammar, quoting and parse-back',
      fc.property(errArb, ctxArb, (err, ctx) => {
        const out = buildChallenges(err, ctx);
        const target = err.entry.challenge;
        if (target === 'none' || ctx.schemes.length === 0) {
          expect(out).toEqual([]);
          return;
        }
        // ERR-9: one value per offered scheme, in the route's order; Bearer first when it was used and
        // carries the error on a route that does not offer it (M4, Q-5).
        const listed: readonly AuthScheme[] =
          target === 'used' && ctx.used === 'bearer' && !ctx.schemes.includes('bearer') ? ['bearer', ...ctx.schemes] : ctx.schemes;
        expect(out).toHaveLength(listed.length);
        out.forEach((value, i) => {
          expect(() => validateHeaderValue('www-authenticate', value)).not.toThrow();
          const m = CHALLENGE.exec(value);
          expect(m, value).not.toBeNull();
          const scheme = listed[i] as AuthScheme;
          expect((m as RegExpExecArray)[1]).toBe(scheme === 'bearer' ? 'Bearer' : 'DPoP');
          const params = parseParams((m as RegExpExecArray)[2] ?? '');
          const names = params.map(([k]) => k);
          // RFC 9110 §11.2: each parameter name at most once per challenge.
          expect(new Set(names).size).toBe(names.length);
          const get = (k: string): string | undefined => params.find(([n]) => n === k)?.[1];
          expect(names[0]).toBe('realm');
          expect(get('realm')).toBe(qdtextOnly(ctx.realm));
          if (scheme === 'dpop') expect(get('algs')).toBe(qdtextOnly(ctx.dpopAlgs.join(' ')));
          else expect(get('algs')).toBeUndefined();
          const carries = target === 'all' || (target === 'used' && (ctx.used === undefined || !listed.includes(ctx.used) || ctx.used === scheme));
          if (carries) {
            expect(get('error')).toBe(err.entry.error);
            expect(get('error_description')).toBe(err.entry.description);
            for (const [k, v] of Object.entries(err.params)) expect(get(k)).toBe(qdtextOnly(v));
          } else {
            expect(names.filter((n) => n !== 'realm' && n !== 'algs')).toEqual([]);
          }
        });
        // With the error, at least one challenge carries it (the client must learn what went wrong).
        if (target !== 'bare') expect(out.some((c) => c.includes(`error="${err.entry.error}"`))).toBe(true);
        else for (const c of out) expect(c).not.toMatch(/\berror=/);
      }),
      { numRuns: 3000 },
    );
  });
  it('the challenges joined on one line (as a proxy may fold them) still split into the same challenges', async () => {
    await checkProperty(
      fig,
      'buildChallenges: folded line splits back',
      fc.property(errArb, ctxArb, (err, ctx) => {
        const out = buildChallenges(err, ctx);
        if (out.length < 2) return;
        // Scheme names are where a new challenge starts: a token followed by SP, not by "=".
        const folded = out.join(', ');
        const starts = [...folded.matchAll(new RegExp(`(?:^|,[ \\t]*)(${TOKEN}) (?!=)`, 'g'))]
          .filter((m) => !insideQuotes(folded, m.index as number))
          .map((m) => m[1]);
        expect(starts).toEqual(out.map((c) => c.split(' ', 1)[0]));
      }),
      { numRuns: 1000 },
    );
  });
});

function insideQuotes(s: string, at: number): boolean {
  let inside = false;
  for (let i = 0; i < at; i++) {
    if (s[i] === '\\' && inside) i++;
    else if (s[i] === '"') inside = !inside;
  }
  return inside;
}

describe('property: renderError', () => {
  it('writes the catalog status, the JSON contract and the challenges through Node\'s header validation, for every code', async () => {
    await checkProperty(
      fig,
      'renderError: every code and context renders through Node',
      fc.property(errArb, ctxArb, fc.uuid(), (err, ctx, iid) => {
        const req = new IncomingMessage(new Socket());
        req.method = 'GET';
        const res = new ServerResponse(req);
        renderError(res, err, ctx, iid);
        expect(res.statusCode).toBe(CATALOG[err.code].status);
        expect(res.getHeader('content-type')).toBe('application/json');
        expect(res.getHeader('cache-control')).toBe('no-store');
        expect(res.getHeader('x-fapi-interaction-id')).toBe(iid);
        const www = res.getHeader('www-authenticate');
        const challenges = buildChallenges(err, ctx);
        if (challenges.length === 0) expect(www).toBeUndefined();
        else expect(www).toEqual(challenges);
      }),
      { numRuns: 500 },
    );
  });
});
