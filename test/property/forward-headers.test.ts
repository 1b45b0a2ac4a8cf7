// Property-based: what the upstream may see (forward/headers.ts, HDR-1, HDR-10..HDR-12) and the
// interaction id (listen/request-facts.ts, Q-8). Arbitrary inbound header maps, arbitrary identity
// claims, renamed identity headers and Connection lists: no spoofed identity, forwarding or certificate
// header survives, credentials only when the route opts in, and every value passes Node's validation.
import { validateHeaderName, validateHeaderValue, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IdentityHeaderNames } from '../../src/config/schema.js';
import { headerSafe, ownedHeaderNames, prepareUpstreamHeaders, type ForwardContext } from '../../src/forward/headers.js';
import { responseHeaders } from '../../src/forward/proxy-forwarder.js';
import { detailsOf } from '../../src/token/jwt-validator.js';
import { interactionIdOf } from '../../src/listen/request-facts.js';
import type { Binding, RequestFacts, Route, TokenClaims } from '../../src/types.js';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { checkProperty } from '../../scripts/lib/hardening-property.js';

const fig = figures('property-forward-headers');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const DEFAULT_NAMES: IdentityHeaderNames = {
  subject: 'x-authenticated-subject',
  client_id: 'x-authenticated-client-id',
  scope: 'x-authenticated-scope',
  issuer: 'x-authenticated-issuer',
  binding: 'x-authenticated-binding',
  key_thumbprint: 'x-authenticated-key-thumbprint',
  authorization_details: 'x-authenticated-authorization-details',
  acr: 'x-authenticated-acr',
  auth_time: 'x-authenticated-auth-time',
  amr: 'x-authenticated-amr',
};
const CUSTOM_NAMES: IdentityHeaderNames = {
  subject: 'x-user',
  client_id: 'x-client',
  scope: 'x-scopes',
  issuer: 'x-iss',
  binding: 'x-binding',
  key_thumbprint: 'x-key',
  authorization_details: 'x-rar',
  acr: 'x-acr',
  auth_time: 'x-auth-time',
  amr: 'x-amr',
};
// Names that matter, as Node delivers them (lower-case), plus CGI-style underscore spellings.
const INTERESTING = [
  ...Object.values(DEFAULT_NAMES), ...Object.values(CUSTOM_NAMES),
  'x-authenticated-foo', 'x_authenticated_subject', 'x_authenticated-scope', 'x-authenticated_binding', 'x-user_', 'x_user',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-prefix', 'x-forwarded-port', 'x_forwarded_for', 'x-forwarded-client-cert',
  'forwarded', 'x-real-ip', 'client-cert', 'client-cert-chain', 'x-client-cert', 'ssl-client-cert', 'x-ssl-client-cert', 'x-ssl-client-verify', 'x_ssl_cert',
  'x-client-verify', 'x-client-dn', 'authorization', 'dpop', 'proxy-authorization', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'upgrade', 'http2-settings', 'transfer-encoding', 'content-length', 'host', 'accept', 'content-type', 'x-fapi-interaction-id',
  'x-fapi-customer-ip-address', 'x-fapi-auth-date', 'foo', 'x-custom', 'set-cookie',
];
const tokenName = fc.string({ unit: fc.constantFrom(...'abcxyz019-_'.split('')), minLength: 1, maxLength: 12 }).filter((n) => /^[a-z0-9]/.test(n));
const headerName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...INTERESTING) }, { weight: 1, arbitrary: tokenName });
// Header values as Node's parser delivers them: HTAB, SP, VCHAR, obs-text.
const valueChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\u00e9', '\u00ff', '\u0080') },
);
const headerValue = fc.string({ unit: valueChar, maxLength: 24 });
const connectionValue = fc
  .array(fc.oneof(fc.constantFrom(...INTERESTING, 'close', 'keep-alive', 'Upgrade', 'X-Authenticated-Subject', ' foo ', ''), tokenName), { maxLength: 6 })
  .map((l) => l.join(','));
const headersArb: fc.Arbitrary<IncomingHttpHeaders> = fc
  .tuple(fc.dictionary(headerName, headerValue, { maxKeys: 14 }), fc.option(connectionValue, { nil: undefined }), fc.option(fc.array(headerValue, { minLength: 1, maxLength: 3 }), { nil: undefined }))
  .map(([d, conn, cookies]) => {
    const h: IncomingHttpHeaders = { ...d };
    delete h['set-cookie'];
    if (conn !== undefined) h.connection = conn;
    if (cookies !== undefined) h['set-cookie'] = cookies;
    return h;
  });
// Identity values come from the AS: any string, including non-ASCII, CR/LF and '%'.
// Any UTF-16, lone surrogates included (they once made headerSafe throw).
const claimText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('a\r\nx-authenticated-subject: victim', '%41', '100%', 'é', '\u0000', '\u2028', '\ud83d\ude00', 'user\ud800', '\udc00x'),
);
const claimsArb = fc.record({
  subject: fc.option(claimText, { nil: undefined }),
  clientId: fc.option(claimText, { nil: undefined }),
  scopes: fc.array(claimText, { maxLength: 3 }),
  issuer: claimText,
  // TOK-7 / Q-9: any JSON the AS put there, forwarded as base64url so the value is always valid.
  acr: fc.option(claimText, { nil: undefined }),
  authTime: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
  amr: fc.option(fc.array(claimText, { maxLength: 3 }), { nil: undefined }),
  authorizationDetails: fc.option(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), { nil: undefined }),
});
const bindingArb: fc.Arbitrary<Binding> = fc.oneof(
  fc.base64String({ minLength: 4, maxLength: 44 }).map((t) => ({ kind: 'mtls' as const, thumbprint: t.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_') })),
  fc.base64String({ minLength: 4, maxLength: 44 }).map((t) => ({ kind: 'dpop' as const, thumbprint: t.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_') })),
  fc.constant({ kind: 'none' as const, thumbprint: undefined }),
);

const STRIPPED_PREFIXES = ['x-authenticated-', 'x-forwarded-', 'x-ssl-'];
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'http2-settings'];
const CERT_AND_FORWARDING = ['forwarded', 'x-real-ip', 'client-cert', 'client-cert-chain', 'x-client-cert', 'ssl-client-cert', 'x-forwarded-client-cert', 'x-client-verify', 'x-client-dn'];
const dashed = (k: string): string => k.replaceAll('_', '-');

interface Run {
  readonly input: IncomingHttpHeaders;
  readonly output: IncomingHttpHeaders;
  readonly ours: Map<string, string>;
  readonly names: IdentityHeaderNames;
  readonly keepCredentials: boolean;
}

function run(input: IncomingHttpHeaders, names: IdentityHeaderNames, keepCredentials: boolean, c: Omit<TokenClaims, 'issuerName' | 'audience' | 'expiresAt' | 'cnf' | 'tokenHash'>, binding: Binding, iid: string): Run {
  const req = { headers: structuredClone(input) } as unknown as IncomingMessage;
  const facts = { req, interactionId: iid, remoteAddress: '127.0.0.1' } as unknown as RequestFacts;
  const route = { forwardCredentials: keepCredentials } as unknown as Route;
  const claims: TokenClaims = { ...c, ...detailsOf(c.authorizationDetails), issuerName: 'main', audience: ['https://api.test'], expiresAt: 0, cnf: { kind: 'none' }, tokenHash: '0' };
  const ctx: ForwardContext = { names, maxDetailsBytes: 65536, owned: ownedHeaderNames(names), publicHost: 'api.test' };
  prepareUpstreamHeaders(facts, route, { claims, binding }, ctx);
  // What the gateway itself writes, and nothing else of these names may be there.
  const ours = new Map<string, string>([
    ['x-fapi-interaction-id', iid],
    ['x-forwarded-for', '127.0.0.1'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'api.test'],
    [names.scope, headerSafe(c.scopes.join(' '))],
    [names.issuer, headerSafe(c.issuer)],
    [names.binding, binding.kind],
  ]);
  if (c.subject !== undefined) ours.set(names.subject, headerSafe(c.subject));
  if (c.clientId !== undefined) ours.set(names.client_id, headerSafe(c.clientId));
  if (binding.thumbprint !== undefined) ours.set(names.key_thumbprint, binding.thumbprint);
  if (c.acr !== undefined) ours.set(names.acr, headerSafe(c.acr));
  if (c.authTime !== undefined) ours.set(names.auth_time, String(c.authTime));
  if (c.amr !== undefined && c.amr.length > 0) ours.set(names.amr, headerSafe(c.amr.join(' ')));
  const details = c.authorizationDetails;
  // An empty list is sent too (W10): never left out.
  if (details !== undefined) ours.set(names.authorization_details, Buffer.from(JSON.stringify(details)).toString('base64url'));
  return { input, output: req.headers, ours, names, keepCredentials };
}

/**
 * What header `k` of the input should arrive as: as sent, but the framing the gateway parsed in its one
 * spelling (only `chunked` and a decimal length get this far in the gateway; the property sends anything).
 */
function framed(input: IncomingHttpHeaders, k: string): unknown {
  if (k === 'transfer-encoding') return 'chunked';
  if (k === 'content-length' && input['transfer-encoding'] === undefined) return String(Number(input[k]));
  return input[k];
}

/** Every way the output breaks the contract (plain checks: this runs thousands of times). */
function violations(r: Run): string[] {
  const { input, output, ours, names, keepCredentials } = r;
  const bad: string[] = [];
  const owned = ownedHeaderNames(names);
  const listed = String(input.connection ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '' && t !== 'transfer-encoding' && t !== 'content-length' && t !== 'host');
  const valid = (k: string, v: string): boolean => {
    try {
      validateHeaderValue(k, v);
      return true;
    } catch {
      return false;
    }
  };
  for (const [k, v] of Object.entries(output)) {
    try {
      validateHeaderName(k);
    } catch {
      bad.push(`invalid name ${k}`);
    }
    for (const one of Array.isArray(v) ? v : [v]) if (!valid(k, String(one))) bad.push(`invalid value ${k}: ${JSON.stringify(one)}`);
    const name = dashed(k);
    if (ours.has(k)) {
      if (v !== ours.get(k)) bad.push(`${k} is ${JSON.stringify(v)}, not ours`);
      continue;
    }
    // HDR-10: no identity, forwarding or certificate header the gateway did not write itself.
    if (STRIPPED_PREFIXES.some((p) => name.startsWith(p))) bad.push(`spoofable prefix kept: ${k}`);
    if (owned.has(name)) bad.push(`owned name kept: ${k}`);
    if (CERT_AND_FORWARDING.includes(name)) bad.push(`forwarding/certificate header kept: ${k}`);
    if (HOP_BY_HOP.includes(name)) bad.push(`hop-by-hop header kept: ${k}`);
    if (name === 'proxy-authorization') bad.push('proxy-authorization kept');
    // HDR-12: nothing the client named in Connection.
    if (listed.includes(name)) bad.push(`header named in Connection kept: ${k}`);
    // HDR-11: credentials only on an opted-in route.
    if ((k === 'authorization' || k === 'dpop') && !keepCredentials) bad.push(`credential forwarded: ${k}`);
    // Everything else passes exactly as sent, but the framing (HDR-12: in one spelling).
    if (JSON.stringify(v) !== JSON.stringify(framed(input, k))) bad.push(`${k} changed`);
  }
  for (const [k, v] of ours) if (output[k] !== v) bad.push(`our ${k} missing or changed`);
  // And whatever may pass is still there.
  for (const k of Object.keys(input)) {
    const name = dashed(k);
    const refused =
      ours.has(k) || STRIPPED_PREFIXES.some((p) => name.startsWith(p)) || owned.has(name) || listed.includes(name) || (!keepCredentials && (k === 'authorization' || k === 'dpop'));
    if (!refused && JSON.stringify(output[k]) !== JSON.stringify(framed(input, k))) bad.push(`${k} dropped or changed`);
  }
  return bad;
}

describe('property: prepareUpstreamHeaders', () => {
  it('arbitrary inbound headers and identity claims: only our identity and forwarding headers, credentials only when opted in, all values valid', async () => {
    await checkProperty(
      fig,
      'prepareUpstreamHeaders: arbitrary header maps',
      fc.property(headersArb, fc.constantFrom(DEFAULT_NAMES, CUSTOM_NAMES), fc.boolean(), claimsArb, bindingArb, fc.uuid(), (input, names, keep, claims, binding, iid) => {
        expect(violations(run(input, names, keep, claims, binding, iid))).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });
  it('identity values are percent-encoded reversibly: decodeURIComponent gives the claim back (lone surrogates as U+FFFD)', async () => {
    await checkProperty(
      fig,
      'headerSafe: reversible and always a valid header value',
      fc.property(fc.oneof(claimText, fc.string({ unit: 'grapheme', maxLength: 20 })), (s) => {
        const out = headerSafe(s);
        expect(() => validateHeaderValue('x', out)).not.toThrow();
        expect(out).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeURIComponent(out)).toBe(s.toWellFormed());
      }),
      { numRuns: 2000 },
    );
  });
  // Regression, fixed (found by this property): headerSafe() percent-encodes with encodeURIComponent, which throws
  // URIError on a lone UTF-16 surrogate. A claim such as "sub": "\ud800" (a legal JSON string escape,
  // which jose decodes into a lone surrogate) therefore makes prepareUpstreamHeaders throw, the gateway
  // turns that into GW_INTERNAL, and every request with that token is a 500 instead of being forwarded
  // with an encoded value. README: "Identity values are percent-encoded where they hold anything but
  // visible ASCII". Fix: headerSafe(value.toWellFormed()) or percent-encode the UTF-8 bytes directly.
  // (The end-to-end reproduction is in test/hardening/dependency-faults.test.ts.)
  it('regression headerSafe: a lone surrogate in an identity claim is encoded, not thrown', () => {
    expect(() => headerSafe('user\ud800')).not.toThrow();
    const h = run({}, DEFAULT_NAMES, false, { subject: 'user\udfff', clientId: 'c', scopes: [], issuer: 'https://as' }, { kind: 'none', thumbprint: undefined }, '00000000-0000-4000-8000-000000000000');
    expect(h.output['x-authenticated-subject']).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe('property: interactionIdOf (Q-8, HDR-1)', () => {
  const fakeReq = (values: readonly string[] | undefined): IncomingMessage =>
    ({ rawHeaders: (values ?? []).flatMap((v) => ['X-FAPI-Interaction-ID', v]) }) as unknown as IncomingMessage;
  const value = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), fc.uuid().map((u) => ` ${u}`), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 200 }), headerValue);
  it('the id is always a UUID; a single UUID field is echoed exactly; anything else is replaced and kept sanitised', async () => {
    await checkProperty(
      fig,
      'interactionIdOf: arbitrary fields',
      fc.property(fc.option(fc.array(value, { minLength: 1, maxLength: 3 }), { nil: undefined }), (values) => {
        const r = interactionIdOf(fakeReq(values));
        expect(r.id).toMatch(UUID);
        const single = values !== undefined && values.length === 1 ? (values[0] as string) : undefined;
        if (single !== undefined && UUID.test(single)) {
          expect(r.id).toBe(single);
          expect(r.replaced).toBeUndefined();
        } else if (values === undefined) {
          expect(r.replaced).toBeUndefined();
        } else {
          expect(r.id).not.toBe(values.join(','));
          expect(typeof r.replaced).toBe('string');
          expect(r.replaced).toMatch(/^[A-Za-z0-9._:-]{0,128}$/);
        }
      }),
      { numRuns: 3000 },
    );
  });
  it('two fields that are each a UUID are not one UUID: replaced, never echoed', async () => {
    await checkProperty(
      fig,
      'interactionIdOf: duplicate UUID fields',
      fc.property(fc.uuid(), fc.uuid(), (a, b) => {
        const r = interactionIdOf(fakeReq([a, b]));
        expect(r.id).not.toBe(a);
        expect(r.id).not.toBe(b);
        expect(r.id).toMatch(UUID);
      }),
      { numRuns: 300 },
    );
  });
});

describe('property: responseHeaders (HDR-1, HDR-12, HDR-14, DPOP-27)', () => {
  const HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer', 'te', 'proxy-authenticate', 'transfer-encoding'];
  // Raw upstream fields in any case, repeated names allowed, as Node's client parser delivers rawHeaders.
  const rawName = fc.tuple(fc.oneof(headerName, fc.constantFrom('Connection', 'DPoP-Nonce', 'Cache-Control', 'Set-Cookie', 'Transfer-Encoding', 'Date')), fc.boolean()).map(([n, up]) => (up ? n.toUpperCase() : n));
  const rawArb = fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.tuple(rawName, headerValue) },
      { weight: 1, arbitrary: fc.tuple(fc.constant('Connection'), connectionValue) },
      // What Node's client parser hands over for a chunked response: dropped (re-framed) without a refusal.
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Transfer-Encoding', 'transfer-encoding'), fc.constantFrom('chunked', 'Chunked', ' chunked ')) },
    ),
    { maxLength: 12 },
  );
  const ownArb = fc.tuple(fc.uuid(), fc.option(fc.string({ unit: fc.constantFrom(...'abc123'.split('')), minLength: 1, maxLength: 8 }), { nil: undefined })).map(([id, nonce]) =>
    nonce === undefined ? ['x-fapi-interaction-id', id] : ['x-fapi-interaction-id', id, 'cache-control', 'no-store', 'dpop-nonce', nonce],
  );
  it('drops hop-by-hop, Connection-listed and gateway-owned fields; keeps the rest in order; ends with the gateway\'s own', async () => {
    await checkProperty(
      fig,
      'responseHeaders: arbitrary upstream heads',
      fc.property(rawArb, ownArb, (pairs, own) => {
        const raw = pairs.flat();
        // A transfer coding the gateway does not decode (anything but chunked) refuses the whole head.
        if (pairs.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && !/^\s*chunked\s*$/i.test(v))) {
          expect(() => responseHeaders(raw, own)).toThrow(/transfer coding other than chunked/);
          return;
        }
        const out = responseHeaders(raw, own);
        const listed = new Set(pairs.filter(([n]) => n.toLowerCase() === 'connection').flatMap(([, v]) => v.split(',').map((t) => t.trim().toLowerCase())));
        const ownNames = new Set(own.filter((_, i) => i % 2 === 0));
        const expected = pairs
          .map(([n, v]) => [n.toLowerCase(), v] as const)
          .filter(([n]) => !HOP.includes(n) && !listed.has(n) && !ownNames.has(n) && n !== 'x-fapi-interaction-id' && n !== 'dpop-nonce' && n !== 'date')
          .flat();
        expect(out).toEqual([...expected, ...own]);
        for (let i = 0; i < out.length; i += 2) validateHeaderName(out[i] as string);
      }),
      { numRuns: 2000 },
    );
  });
});
