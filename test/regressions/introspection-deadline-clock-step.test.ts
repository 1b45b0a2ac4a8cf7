// Found in review (fixed; the test failed before): time and clocks: INT-8 "timeout_ms bounds the whole
// lookup". The deadline of an introspection lookup (discovery, then the call) was on the wall clock: an
// NTP step back during discovery handed the AS call a 10-minute timeout (601,900 ms instead of at most
// 2,000), holding the request and a max_in_flight slot. Deadlines are on the monotonic clock now. The
// introspector's wall clock is injected here and stepped; the AS is a fake transport.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { clientSecretBasic } from '../../src/token/client-auth.js';
import { Introspector, type Transport } from '../../src/token/introspection.js';
import { sha256Hex } from '../../src/token/jwt-validator.js';
import { AUD, ISSUER, issuerConfig } from '../unit/token/introspection-fixtures.js';

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof GatewayError) return `${e.status} ${e.code}`;
    throw e;
  }
}

describe('INT-8: introspection after a wall-clock step back', () => {
  const T0 = 1_760_000_000_000;
  let now = T0;
  const clock = (): number => now;
  const nowS = (): number => Math.floor(now / 1000);
  const active = () => ({ active: true, iss: ISSUER, aud: AUD, sub: 'alice', client_id: 'tpp', scope: 'accounts', exp: nowS() + 3600, iat: nowS(), cnf: { 'x5t#S256': 'A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0' } });
  const run = (i: Introspector, token: string) => i.introspect(token, sha256Hex(token));

  it.each([
    ['control, no step', 0],
    ['after a 10 min step back during discovery', 600_000],
  ])('INT-8 (%s): the AS call gets what is left of timeout_ms, never more', async (_what, stepMs) => {
    now = T0;
    const timeouts: number[] = [];
    const transport: Transport = async (url, opts) => {
      timeouts.push(opts.timeoutMs);
      if (url.includes('/.well-known/')) {
        now += 100; // the metadata answer took 100 ms...
        now -= stepMs; // ...and NTP stepped the clock back meanwhile
        return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify({ issuer: ISSUER, introspection_endpoint: `${ISSUER}/introspect` })) };
      }
      return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(active())) };
    };
    const i = new Introspector(
      { name: 'as', config: issuerConfig({ endpoint: undefined, timeout_ms: 2000 }), keys: { getKey: (() => Promise.reject(new Error('no keys'))) as never } },
      { auth: clientSecretBasic('gw', 'secret'), transport, now: clock },
    );
    expect(await outcome(run(i, 'tok'))).toBe('ok');
    expect(timeouts).toHaveLength(2);
    // A hanging AS would hold the request (and a max_in_flight slot) this long: got 601900 ms.
    expect(timeouts[1]).toBeLessThanOrEqual(2000);
  });
});
