// PRM-1..PRM-3 (RFC 9728): which identifiers are published where, and what their documents say.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { buildProtectedResourceMetadata, metadataDocument, publishable, wellKnownPath } from '../../../src/metadata/protected-resource.js';
import { compileRouteTable } from '../../../src/route/table.js';

const ORIGIN = 'https://api.bank.example';

describe('PRM-1 / PRM-2: the well-known path of a resource identifier', () => {
  it('puts the well-known segment between the host and the path; a lone trailing / is dropped', () => {
    expect(wellKnownPath(ORIGIN, ORIGIN)).toBe('/.well-known/oauth-protected-resource');
    expect(wellKnownPath(`${ORIGIN}/`, ORIGIN)).toBe('/.well-known/oauth-protected-resource');
    expect(wellKnownPath(`${ORIGIN}/accounts`, ORIGIN)).toBe('/.well-known/oauth-protected-resource/accounts');
    expect(wellKnownPath(`${ORIGIN}/v1/accounts/`, ORIGIN)).toBe('/.well-known/oauth-protected-resource/v1/accounts/');
  });

  it('publishes nothing for identifiers this gateway cannot serve as written', () => {
    for (const aud of ['urn:bank:accounts', 'http://api.bank.example/a', 'https://other.example/a', `${ORIGIN}/a?x=1`, `${ORIGIN}/a#f`, `${ORIGIN}/a b`, `${ORIGIN}:8443/a`, 'https://API.bank.example/a']) {
      expect(wellKnownPath(aud, ORIGIN), aud).toBeUndefined();
    }
  });
});

/** `metadata: null` leaves resource_metadata out of the config. */
function loaded(routes: Record<string, unknown>[], metadata: Record<string, unknown> | null = {}) {
  return parseConfig(
    stringify({
      server: { listen: '127.0.0.1:0', public_origin: ORIGIN, tls: { cert_file: 's.crt', key_file: 's.key' } },
      issuers: { as1: { issuer: 'https://as1.example', jwks_uri: 'https://as1.example/jwks' }, as2: { issuer: 'https://as2.example', jwks_uri: 'https://as2.example/jwks' } },
      routes: routes.map((r, i) => ({ id: `r${i}`, match: { methods: ['GET'], path_prefix: `/p${i}` }, upstream: { url: 'http://127.0.0.1:1' }, ...r })),
      ...(metadata === null ? {} : { resource_metadata: metadata }),
    }),
    'x.yaml',
    {},
  );
}

describe('PRM-3: the document', () => {
  it('merges every route with the identifier: issuers, scopes, bindings; leaves empty members out', () => {
    const l = loaded([
      { auth: { issuers: ['as1'], audience: `${ORIGIN}/accounts`, binding: 'mtls', scopes: { all_of: ['accounts'] } } },
      { auth: { issuers: ['as1', 'as2'], audience: `${ORIGIN}/accounts`, binding: 'dpop', scopes: { any_of: ['accounts', 'read'] } } },
      { auth: { issuers: ['as2'], audience: `${ORIGIN}/payments`, binding: 'dpop' } },
    ], { resource_name: 'Accounts', resource_documentation: `${ORIGIN}/docs` });
    const routes = compileRouteTable(l).routes;
    expect(metadataDocument(`${ORIGIN}/accounts`, routes, l)).toEqual({
      resource: `${ORIGIN}/accounts`,
      authorization_servers: ['https://as1.example', 'https://as2.example'],
      scopes_supported: ['accounts', 'read'],
      bearer_methods_supported: ['header'],
      tls_client_certificate_bound_access_tokens: true,
      dpop_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA', 'Ed25519'],
      resource_name: 'Accounts',
      resource_documentation: `${ORIGIN}/docs`,
    });
    const payments = metadataDocument(`${ORIGIN}/payments`, routes, l);
    expect(payments).toMatchObject({ dpop_bound_access_tokens_required: true });
    expect(payments).not.toHaveProperty('scopes_supported');
    expect(payments).not.toHaveProperty('tls_client_certificate_bound_access_tokens');
  });

  it('serves each publishable identifier at its path and names the URL for challenges; off without resource_metadata', () => {
    const routes = [
      { auth: { issuers: ['as1'], audience: `${ORIGIN}/accounts` } },
      { auth: { issuers: ['as1'], audience: 'urn:bank:internal' } },
    ];
    const l = loaded(routes, { max_age_s: 60 });
    const m = buildProtectedResourceMetadata(l, compileRouteTable(l).routes)!;
    expect(JSON.parse(m.document('/.well-known/oauth-protected-resource/accounts')!)).toMatchObject({ resource: `${ORIGIN}/accounts` });
    expect(m.document('/.well-known/oauth-protected-resource')).toBeUndefined();
    expect(m.urlFor(`${ORIGIN}/accounts`)).toBe(`${ORIGIN}/.well-known/oauth-protected-resource/accounts`);
    expect(m.urlFor('urn:bank:internal')).toBeUndefined();
    expect(m.maxAgeS).toBe(60);
    const off = loaded(routes, null);
    expect(buildProtectedResourceMetadata(off, compileRouteTable(off).routes)).toBeUndefined();
  });
});

describe('PRM-2: identifiers that would share one metadata URL are published by neither', () => {
  it('https://h and https://h/ clash (the trailing / after the host is dropped); the others are kept', () => {
    const { byServedPath, clashing } = publishable([ORIGIN, `${ORIGIN}/`, `${ORIGIN}/accounts`, `${ORIGIN}/accounts`], ORIGIN);
    expect(clashing).toEqual([[ORIGIN, `${ORIGIN}/`]]);
    expect([...byServedPath.keys()]).toEqual(['/.well-known/oauth-protected-resource/accounts']);
  });
});

describe('PRM-5: resource_metadata only on routes whose requests the document can apply to (RFC 9728 §3.3)', () => {
  it('same origin, and route paths at or below the identifier path', () => {
    const routes = [
      { id: 'under', match: { methods: ['GET'], path_prefix: '/accounts/v1' }, auth: { issuers: ['as1'], audience: `${ORIGIN}/accounts` } },
      { id: 'at', match: { methods: ['GET'], path: '/accounts' }, auth: { issuers: ['as1'], audience: `${ORIGIN}/accounts` } },
      { id: 'beside', match: { methods: ['GET'], path_prefix: '/accountsX' }, auth: { issuers: ['as1'], audience: `${ORIGIN}/accounts` } },
      { id: 'root', match: { methods: ['GET'], path_prefix: '/payments' }, auth: { issuers: ['as1'], audience: ORIGIN } },
      { id: 'elsewhere', public_origin: 'https://other.example', match: { methods: ['GET'], path_prefix: '/other' }, auth: { issuers: ['as1'], audience: ORIGIN } },
    ];
    const l = loaded(routes);
    const table = compileRouteTable(l).routes;
    const m = buildProtectedResourceMetadata(l, table)!;
    const advertised = Object.fromEntries(table.map((r) => [r.id, m.advertisedFor(r)]));
    expect(advertised).toEqual({
      under: `${ORIGIN}/.well-known/oauth-protected-resource/accounts`,
      at: `${ORIGIN}/.well-known/oauth-protected-resource/accounts`,
      beside: undefined,
      root: `${ORIGIN}/.well-known/oauth-protected-resource`,
      elsewhere: undefined,
    });
  });
});
