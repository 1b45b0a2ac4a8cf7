// TOK-9, Q-3, TOK-4, TOK-5: the composite picks JWT or introspection from the issuer's config only.
import { describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import type { ErrorCode } from '../../../src/errors/catalog.js';
import { sha256Hex, type TokenValidator } from '../../../src/token/jwt-validator.js';
import { CompositeTokenValidator, type ComposedIssuer } from '../../../src/token/token-validator.js';
import type { Route, TokenClaims } from '../../../src/types.js';

const AUD = 'https://api.test';
const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** Looks like a JWS (the signature does not matter: nothing here verifies it). */
const jws = (iss: string) => `${enc({ alg: 'ES256', typ: 'at+jwt' })}.${enc({ iss })}.c2ln`;

const cfg = (issuer: string, token_format: 'jwt' | 'opaque', revocation: 'none' | 'introspect' = 'none') =>
  ({ issuer, token_format, revocation }) as unknown as IssuerConfig;

const route = (issuers: string[], audience = AUD): Route => ({ id: 'r', issuers, audience }) as unknown as Route;

const claims = (issuerName: string, token: string, audience: string[] = [AUD]): TokenClaims => ({
  issuerName,
  issuer: `https://${issuerName}.test`,
  subject: 'alice',
  clientId: 'tpp',
  scopes: [],
  audience,
  expiresAt: 0,
  cnf: { kind: 'none' },
  tokenHash: sha256Hex(token),
});

type Behaviour = 'active' | ErrorCode | { aud: string[] };

/** A stub introspector that records the tokens it was asked about. */
function stubIntrospector(name: string, behaviour: (token: string) => Behaviour) {
  const asked: string[] = [];
  return {
    asked,
    introspect: async (token: string, tokenHash: string) => {
      asked.push(token);
      expect(tokenHash).toBe(sha256Hex(token));
      const b = behaviour(token);
      if (b === 'active') return claims(name, token);
      if (typeof b === 'object') return claims(name, token, b.aud);
      throw new GatewayError(b, `stub ${b}`);
    },
  };
}

function stubJwt(issuerName = 'jwt-as') {
  const asked: string[] = [];
  const v: TokenValidator & { asked: string[] } = {
    asked,
    async validate(token) {
      asked.push(token);
      if (token.split('.').length !== 3) throw new GatewayError('GW_TOKEN_MALFORMED', 'TOK-9 not a JWS');
      return claims(issuerName, token);
    },
  };
  return v;
}

const outcome = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof GatewayError) return e.code;
    throw e;
  }
};

describe('TOK-9: the format comes from the issuer config, never from the token', () => {
  it('TOK-9 a JWS-looking token at an opaque issuer is introspected, not verified locally', async () => {
    const op = stubIntrospector('op', () => 'active');
    const jwt = stubJwt();
    const v = new CompositeTokenValidator([{ name: 'op', config: cfg('https://op.test', 'opaque'), introspector: op }], jwt);
    const token = jws('https://op.test');
    expect(await outcome(v.validate(token, route(['op'])))).toBe('ok');
    expect(op.asked).toEqual([token]);
    expect(jwt.asked).toEqual([]);
  });
  it('TOK-9 an opaque token at a JWT-only route is never introspected: 401', async () => {
    const op = stubIntrospector('op', () => 'active');
    const jwt = stubJwt();
    const v = new CompositeTokenValidator(
      [
        { name: 'jwt-as', config: cfg('https://jwt-as.test', 'jwt') },
        { name: 'op', config: cfg('https://op.test', 'opaque'), introspector: op },
      ],
      jwt,
    );
    expect(await outcome(v.validate('opaque-token', route(['jwt-as'])))).toBe('GW_TOKEN_MALFORMED');
    expect(op.asked).toEqual([]);
  });
  it('TOK-9 a route with both: a JWS naming its JWT issuer is verified locally, anything else introspected', async () => {
    const op = stubIntrospector('op', () => 'active');
    const jwt = stubJwt();
    const issuers: ComposedIssuer[] = [
      { name: 'jwt-as', config: cfg('https://jwt-as.test', 'jwt') },
      { name: 'op', config: cfg('https://op.test', 'opaque'), introspector: op },
    ];
    const v = new CompositeTokenValidator(issuers, jwt);
    const r = route(['jwt-as', 'op']);
    const local = jws('https://jwt-as.test');
    expect((await v.validate(local, r)).issuerName).toBe('jwt-as');
    expect((await v.validate('opaque', r)).issuerName).toBe('op');
    // A JWS naming another issuer falls to introspection (the JWT issuer never sees it).
    const foreign = jws('https://elsewhere.test');
    expect((await v.validate(foreign, r)).issuerName).toBe('op');
    expect(jwt.asked).toEqual([local]);
    expect(op.asked).toEqual(['opaque', foreign]);
  });
  it('TOK-9 / TOK-4: a JWS of a JWT issuer the route does not accept is judged as a JWT, never shown to the route\'s AS', async () => {
    const op = stubIntrospector('op', () => 'active');
    const jwt = stubJwt('other-jwt-as');
    const v = new CompositeTokenValidator(
      [
        { name: 'other-jwt-as', config: cfg('https://other-jwt-as.test', 'jwt') },
        { name: 'op', config: cfg('https://op.test', 'opaque'), introspector: op },
      ],
      jwt,
    );
    const token = jws('https://other-jwt-as.test');
    await v.validate(token, route(['op'])).catch(() => undefined);
    expect(jwt.asked).toEqual([token]); // the JWT validator, which refuses an issuer not on the route (TOK-4)
    expect(op.asked).toEqual([]);
  });
  it('TOK-9: one AS configured both ways (a jwt entry, and an opaque one on this route): its JWS is introspected here', async () => {
    const op = stubIntrospector('as-opaque', () => 'active');
    const jwt = stubJwt('as-jwt');
    const v = new CompositeTokenValidator(
      [
        { name: 'as-jwt', config: cfg('https://as.test', 'jwt') },
        { name: 'as-opaque', config: cfg('https://as.test', 'opaque'), introspector: op },
      ],
      jwt,
    );
    const token = jws('https://as.test');
    expect((await v.validate(token, route(['as-opaque']))).issuerName).toBe('as-opaque');
    expect(jwt.asked).toEqual([]);
    expect(op.asked).toEqual([token]);
  });
});

describe('INT-2: several opaque issuers on a route, in order', () => {
  const build = (a: (t: string) => Behaviour, b: (t: string) => Behaviour) => {
    const first = stubIntrospector('a', a);
    const second = stubIntrospector('b', b);
    const v = new CompositeTokenValidator(
      [
        { name: 'a', config: cfg('https://a.test', 'opaque'), introspector: first },
        { name: 'b', config: cfg('https://b.test', 'opaque'), introspector: second },
      ],
      stubJwt(),
    );
    return { v, first, second, r: route(['a', 'b']) };
  };
  it('INT-2 inactive at the first, active at the second: accepted from the second', async () => {
    const { v, r } = build(() => 'GW_TOKEN_INACTIVE', () => 'active');
    expect((await v.validate('t', r)).issuerName).toBe('b');
  });
  it('INT-2 active at the first: the second is never asked', async () => {
    const { v, r, second } = build(() => 'active', () => 'active');
    expect((await v.validate('t', r)).issuerName).toBe('a');
    expect(second.asked).toEqual([]);
  });
  it('INT-2 inactive everywhere: 401 inactive', async () => {
    const { v, r } = build(() => 'GW_TOKEN_INACTIVE', () => 'GW_TOKEN_INACTIVE');
    expect(await outcome(v.validate('t', r))).toBe('GW_TOKEN_INACTIVE');
  });
  it('INT-2 one AS down and the other says inactive: 503, never 401', async () => {
    const { v, r } = build(() => 'GW_INTROSPECTION_UNAVAILABLE', () => 'GW_TOKEN_INACTIVE');
    expect(await outcome(v.validate('t', r))).toBe('GW_INTROSPECTION_UNAVAILABLE');
  });
  it('INT-2 one AS down and the other says active: accepted', async () => {
    const { v, r } = build(() => 'GW_INTROSPECTION_UNAVAILABLE', () => 'active');
    expect((await v.validate('t', r)).issuerName).toBe('b');
  });
  it('INT-3 a refusal other than inactive comes from the AS that knows the token: final', async () => {
    const { v, r, second } = build(() => 'GW_TOKEN_EXPIRED', () => 'active');
    expect(await outcome(v.validate('t', r))).toBe('GW_TOKEN_EXPIRED');
    expect(second.asked).toEqual([]);
  });
});

describe('TOK-4 / TOK-5: route checks on every request, cached or not', () => {
  it('TOK-5 / INT-3 aud missing or for another resource -> 401 audience; per route', async () => {
    let aud: string[] = [AUD];
    const op = stubIntrospector('op', () => ({ aud }));
    const v = new CompositeTokenValidator([{ name: 'op', config: cfg('https://op.test', 'opaque'), introspector: op }], stubJwt());
    expect(await outcome(v.validate('t', route(['op'])))).toBe('ok');
    expect(await outcome(v.validate('t', route(['op'], 'https://other.test')))).toBe('GW_TOKEN_AUDIENCE');
    aud = [];
    expect(await outcome(v.validate('t', route(['op'])))).toBe('GW_TOKEN_AUDIENCE');
    aud = ['https://other.test', AUD];
    expect(await outcome(v.validate('t', route(['op'])))).toBe('ok');
  });
  it('TOK-4 only the route\'s issuers are asked', async () => {
    const a = stubIntrospector('a', () => 'active');
    const b = stubIntrospector('b', () => 'active');
    const v = new CompositeTokenValidator(
      [
        { name: 'a', config: cfg('https://a.test', 'opaque'), introspector: a },
        { name: 'b', config: cfg('https://b.test', 'opaque'), introspector: b },
      ],
      stubJwt(),
    );
    expect((await v.validate('t', route(['b']))).issuerName).toBe('b');
    expect(a.asked).toEqual([]);
  });
});

describe('Q-3: revocation for JWT access tokens', () => {
  const build = (revocation: 'none' | 'introspect', b: Behaviour) => {
    const op = stubIntrospector('jwt-as', () => b);
    const jwt = stubJwt();
    const v = new CompositeTokenValidator([{ name: 'jwt-as', config: cfg('https://jwt-as.test', 'jwt', revocation), introspector: op }], jwt);
    return { v, op, jwt };
  };
  it('Q-3 revocation: introspect asks the AS after the local checks passed, and a revoked JWT is refused', async () => {
    const token = jws('https://jwt-as.test');
    const ok = build('introspect', 'active');
    expect((await ok.v.validate(token, route(['jwt-as']))).issuerName).toBe('jwt-as');
    expect(ok.op.asked).toEqual([token]);
    const revoked = build('introspect', 'GW_TOKEN_INACTIVE');
    expect(await outcome(revoked.v.validate(token, route(['jwt-as'])))).toBe('GW_TOKEN_INACTIVE');
    const down = build('introspect', 'GW_INTROSPECTION_UNAVAILABLE');
    expect(await outcome(down.v.validate(token, route(['jwt-as'])))).toBe('GW_INTROSPECTION_UNAVAILABLE');
  });
  it('Q-3 a token failing locally never reaches the AS', async () => {
    const b = build('introspect', 'active');
    expect(await outcome(b.v.validate('not-a-jwt', route(['jwt-as'])))).toBe('GW_TOKEN_MALFORMED');
    expect(b.op.asked).toEqual([]);
  });
  it('Q-3 revocation: none never introspects', async () => {
    const b = build('none', 'GW_TOKEN_INACTIVE');
    expect(await outcome(b.v.validate(jws('https://jwt-as.test'), route(['jwt-as'])))).toBe('ok');
    expect(b.op.asked).toEqual([]);
  });
});
