// Property-based: the two URL normalisers on the request path. normaliseTarget decides what routes match
// and what the upstream receives; normalizeHtu decides what a DPoP proof's htu is compared with. Both must
// be total (never throw), idempotent, and never produce an ambiguous form.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectedHtu, normalizeHtu } from '../../src/binding/htu.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { normaliseTarget } from '../../src/route/normalize-path.js';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { checkProperty } from '../../scripts/lib/hardening-property.js';

const fig = figures('property-path-and-htu');

// Path pieces weighted towards what confuses normalisers: dots, escapes of dots and separators,
// path parameters, backslashes, control characters, non-ASCII.
const hostile = [
  '/', '/', '/', '.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '%5C', '%00', '%0a', '%0D', '%1f', '%7f', '%7F',
  '%41', '%61', '%7e', '%7E', '%20', '%25', '%', '%4', '%zz', '%%', ';', ';x', '..;', '.;', '\\', '?', '#', '&', '=', '@', ':',
  '~', '-', '_', '+', '!', '$', "'", '(', ')', '*', ',', 'a', 'B', 'accounts', '1', '\u00e9', '\u2028', '\ud83d\ude00', ' ', '\t',
  '\r', '\n', '\x00', '\x7f', '"', '<', '>', '^', '`', '{', '|', '}', '[', ']',
];
const piece = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...hostile) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) });
const pathish = fc.array(piece, { maxLength: 24 }).map((p) => p.join(''));
const target = fc.oneof(
  { weight: 6, arbitrary: pathish.map((p) => `/${p}`) },
  { weight: 1, arbitrary: pathish },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.webPath() },
);

const CONTROL = /[\x00-\x1f\x7f]/;
const ESCAPE = /%[0-9A-Fa-f]{2}/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Invariants every accepted path must have, whatever the input was. */
function expectUnambiguousPath(path: string): void {
  expect(path.startsWith('/'), path).toBe(true);
  expect(path).toMatch(/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/);
  expect(path).not.toMatch(CONTROL);
  expect(path).not.toMatch(/%2F|%5C/i);
  expect(path).not.toMatch(/%(?:[01][0-9A-F]|7F)/i);
  expect(path).not.toContain('\\');
  // Every '%' starts an upper-case escape of a character that is not unreserved.
  expect(path.replace(/%[0-9A-F]{2}/g, '')).not.toContain('%');
  for (const e of path.match(ESCAPE) ?? []) expect(UNRESERVED.test(String.fromCharCode(parseInt(e.slice(1), 16)))).toBe(false);
  for (const seg of path.split('/').slice(1)) {
    const bare = seg.split(';', 1)[0];
    expect(bare).not.toBe('..');
    expect(bare).not.toBe('.');
  }
}

describe('property: normaliseTarget (route/normalize-path.ts)', () => {
  it('total: any string gives ok or a refusal with a reason, never an exception', async () => {
    await checkProperty(
      fig,
      'normaliseTarget: total on arbitrary targets',
      fc.property(target, (t) => {
        const r = normaliseTarget(t);
        if (!r.ok) expect(typeof r.reason).toBe('string');
        if (!t.startsWith('/')) expect(r.ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
  it('accepted paths: start with "/", no ".." or "." segment, no %2F/%5C, no control characters, canonical escapes', async () => {
    await checkProperty(
      fig,
      'normaliseTarget: accepted output is unambiguous',
      fc.property(target, (t) => {
        const r = normaliseTarget(t);
        if (!r.ok) return;
        expectUnambiguousPath(r.path);
        // The query is passed on as sent, byte for byte.
        const q = t.indexOf('?');
        expect(r.query).toBe(q === -1 ? '' : t.slice(q + 1));
      }),
      { numRuns: 3000 },
    );
  });
  it('idempotent: normalising the output (path and query) gives the same output', async () => {
    await checkProperty(
      fig,
      'normaliseTarget: idempotent',
      fc.property(target, (t) => {
        const r = normaliseTarget(t);
        if (!r.ok) return;
        const again = normaliseTarget(r.query === '' && !t.includes('?') ? r.path : `${r.path}?${r.query}`);
        expect(again).toEqual(r);
      }),
      { numRuns: 3000 },
    );
  });
  it('a ".." segment, however it is spelled, is refused, never resolved', async () => {
    const dotdot = fc.constantFrom('..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '..;', '..;x', '%2e%2e;y');
    const seg = fc.string({ unit: fc.constantFrom(...'abc019-_~'.split('')), minLength: 1, maxLength: 6 });
    await checkProperty(
      fig,
      'normaliseTarget: dot-dot refused',
      fc.property(fc.array(seg, { maxLength: 3 }), dotdot, fc.array(seg, { maxLength: 3 }), fc.boolean(), (before, dd, after, slash) => {
        const t = `/${[...before, dd, ...after].join('/')}${slash ? '/' : ''}`;
        expect(normaliseTarget(t).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
  it('encoding unreserved characters does not change the result (so %61ccounts routes like accounts)', async () => {
    const seg = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_~.'.split('')), minLength: 1, maxLength: 8 });
    await checkProperty(
      fig,
      'normaliseTarget: encoded unreserved equivalent',
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), (segs, flags) => {
        const plain = `/${segs.join('/')}`;
        let k = 0;
        const encoded = [...plain].map((c) => (c !== '/' && flags[k++ % flags.length] ? `%${c.charCodeAt(0).toString(16)}` : c)).join('');
        expect(normaliseTarget(encoded)).toEqual(normaliseTarget(plain));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------

const hostPiece = fc.constantFrom('api.test', 'API.Test', 'a', 'x-y', '127.0.0.1', '[::1]', '[2001:DB8::1]', '[::1', 'ex%41mple', 'h%zz', 'u@h', 'u:p@h', '', 'h h', 'h\u00e9', '%2e');
const portPiece = fc.constantFrom('', ':', ':443', ':80', ':8443', ':0443', ':65535', ':65536', ':x', ':-1', ':99999999');
const schemePiece = fc.constantFrom('https', 'http', 'HTTPS', 'HtTp', 'ftp', 'h', '', 'https:', 'ws');
const uri = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(schemePiece, fc.constantFrom('://', ':/', '//', ':///'), hostPiece, portPiece, fc.oneof(pathish.map((p) => `/${p}`), pathish), fc.option(pathish, { nil: undefined }), fc.option(pathish, { nil: undefined }))
      .map(([s, sep, h, p, path, q, f]) => `${s}${sep}${h}${p}${path}${q === undefined ? '' : `?${q}`}${f === undefined ? '' : `#${f}`}`),
  },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
);

/** `%41`..`%5A` (A-Z) in the authority of an absolute URI. */

describe('property: normalizeHtu (binding/htu.ts)', () => {
  // Regression, fixed (found by the property below; fail-closed, not a bypass): normaliseAuthority lower-cases the host
  // *before* decoding escaped unreserved characters, so an escaped upper-case letter survives as upper case.
  // RFC 3986 §6.2.2.1/§6.2.2.2 (which RFC 9449 §4.3 says to apply to htu): the host is case-insensitive and
  // %41 is "A", so https://ex%41mple/ is https://example/. Consequences: the output is not a normal form
  // (normalizeHtu(normalizeHtu(x)) !== normalizeHtu(x)), and a proof whose htu spells the host that way is
  // refused with invalid_dpop_proof although it names the request URL. Fix: decode, then lower-case the
  // non-escape characters (or lower-case again after normalisePercent).
  it('regression htu: normalizeHtu("https://ex%41mple/") is "https://example/", and idempotent', () => {
    expect(normalizeHtu('https://ex%41mple/')).toBe('https://example/');
    expect(normalizeHtu(normalizeHtu('https://api.t%45st/accounts') as string)).toBe(normalizeHtu('https://api.t%45st/accounts'));
    expect(normalizeHtu('https://API.T%45ST/accounts')).toBe(expectedHtu('https://api.test', '/accounts'));
  });

  it('total: any string gives a normalised absolute http(s) URI or undefined, never an exception', async () => {
    await checkProperty(
      fig,
      'normalizeHtu: total on arbitrary strings',
      fc.property(uri, (u) => {
        const n = normalizeHtu(u);
        expect(n === undefined || typeof n === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
  it('output: idempotent, http(s), no userinfo, query or fragment, no dot segments, canonical escapes, no default port', async () => {
    await checkProperty(
      fig,
      'normalizeHtu: normal form and idempotence',
      fc.property(uri, (u) => {
        const n = normalizeHtu(u);
        if (n === undefined) return;
        expect(normalizeHtu(n)).toBe(n);
        const m = /^(https?):\/\/([^/?#]*)(\/[^?#]*)$/.exec(n);
        expect(m).not.toBeNull();
        const [, scheme, authority, path] = m as unknown as [string, string, string, string];
        expect(authority).not.toContain('@');
        // Host lower-cased (escape hex stays upper-case).
        const bareHost = authority.replace(/%[0-9A-F]{2}/g, '');
        expect(bareHost).toBe(bareHost.toLowerCase());
        expect(authority.endsWith(scheme === 'https' ? ':443' : ':80')).toBe(false);
        expect(authority.endsWith(':')).toBe(false);
        expect(path.replace(/%[0-9A-F]{2}/g, '')).not.toContain('%');
        for (const e of path.match(ESCAPE) ?? []) expect(UNRESERVED.test(String.fromCharCode(parseInt(e.slice(1), 16)))).toBe(false);
        for (const seg of path.split('/').slice(1)) expect(['.', '..']).not.toContain(seg);
      }),
      { numRuns: 3000 },
    );
  });
  it('equivalent spellings (scheme/host case, default port, escaped unreserved, dot segments, query, fragment) normalise alike', async () => {
    const seg = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_~'.split('')), minLength: 1, maxLength: 6 });
    await checkProperty(
      fig,
      'normalizeHtu: equivalent spellings',
      fc.property(fc.constantFrom('http', 'https'), fc.array(seg, { maxLength: 4 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), seg, (s, segs, flags, extra) => {
        const base = `${s}://api.test/${segs.join('/')}`;
        const port = s === 'https' ? ':443' : ':80';
        const path = segs.map((x, i) => (flags[i % 8] ? [...x].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('') : x));
        const variant = `${flags[0] ? s.toUpperCase() : s}://${flags[1] ? 'API.TEST' : 'api.test'}${flags[2] ? port : ''}/${flags[3] ? `${extra}/../` : ''}${flags[4] ? './' : ''}${path.join('/')}${flags[5] ? `?q=${extra}` : ''}${flags[6] ? `#${extra}` : ''}`;
        expect(normalizeHtu(variant)).toBe(normalizeHtu(base));
        expect(normalizeHtu(base)).toBe(expectedHtu(`${s}://api.test`, `/${segs.join('/')}`));
      }),
      { numRuns: 1000 },
    );
  });
  it('expectedHtu over every path normaliseTarget accepts never throws and agrees with normalizeHtu', async () => {
    await checkProperty(
      fig,
      'expectedHtu: defined for every accepted request path',
      fc.property(target, (t) => {
        const r = normaliseTarget(t);
        if (!r.ok) return;
        let htu: string | undefined;
        try {
          htu = expectedHtu('https://api.test', r.path);
        } catch (e) {
          // GW_INTERNAL (500) would be a 5xx caused by client input.
          expect(e).toBeInstanceOf(GatewayError);
          throw new Error(`expectedHtu threw ${(e as GatewayError).code} for accepted path ${JSON.stringify(r.path)}`);
        }
        expect(normalizeHtu(htu)).toBe(htu);
      }),
      { numRuns: 3000 },
    );
  });
});
