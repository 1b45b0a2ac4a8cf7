// Found in review (fixed; the test failed before): Review of the header contract (HDR-*): what the upstream receives and what the client gets back.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import type { ReceivedRequest } from '../support/upstream.js';

let h: Harness;
let strict: Harness;
beforeAll(async () => {
  h = await startHarness();
  strict = await startHarness({ patch: (c) => void (c.server.fapi_headers = 'strict') });
});
afterAll(async () => {
  await h?.close();
  await strict?.close();
});

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];
const bound = (g: Harness, extra: Record<string, unknown> = {}) => g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256), ...extra });

/** Every raw value of a header as the upstream received it (case-insensitive name). */
const rawValues = (up: ReceivedRequest, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < up.rawHeaders.length; i += 2) if (up.rawHeaders[i]!.toLowerCase() === name) out.push(up.rawHeaders[i + 1]!);
  return out;
};
/** The names the upstream would see through a CGI-style mapping (`_` read as `-`, any case). */
const cgiValues = (up: ReceivedRequest, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < up.rawHeaders.length; i += 2) if (up.rawHeaders[i]!.toLowerCase().replaceAll('_', '-') === name) out.push(up.rawHeaders[i + 1]!);
  return out;
};

describe('HDR-4 / HDR-5 strict mode: the underscore spelling of the x-fapi-* headers', () => {
  // HDR-4, HDR-5 (README: "`fapi_headers: strict` refuses with 400 one that is not a single IPv4/IPv6
  // address, or not a single IMF-fixdate"). BUG: checkFapiHeaders reads only the exact dashed name
  // (src/listen/fapi-headers.ts:23-29 via fieldValues), while the forwarder already treats the
  // underscore spelling as the same field for the headers it owns (src/forward/headers.ts:69-70, since
  // CGI-style upstreams read `X_Fapi_Customer_Ip_Address` as `x-fapi-customer-ip-address`). So a
  // malformed (or a second, conflicting) customer IP / auth date in the underscore spelling is
  // neither validated nor stripped, and the upstream reads it as the header strict mode vouched for.
  it('x_fapi_customer_ip_address / X_FAPI_AUTH_DATE with malformed values are refused or never reach the upstream', async () => {
    const before = strict.upstream.received.length;
    const r = await strict.call('/accounts/1', {
      cert: strict.pki.client1,
      headers: [
        bearer(await bound(strict)),
        ['x-fapi-customer-ip-address', '198.51.100.119'],
        ['X_Fapi_Customer_Ip_Address', '<script>not-an-ip</script>'],
        ['X_FAPI_AUTH_DATE', 'yesterday-ish'],
      ],
    });
    if (r.status === 400) {
      expect(strict.upstream.received.length).toBe(before);
      return;
    }
    expect(r.status).toBe(200);
    const up = strict.upstream.received.at(-1)!;
    // Whatever the spelling, the upstream must see only values strict mode checked.
    expect(cgiValues(up, 'x-fapi-customer-ip-address')).toEqual(['198.51.100.119']);
    expect(cgiValues(up, 'x-fapi-auth-date')).toEqual([]);
  });
});

describe('HDR-10: identity values reach the upstream as the claims said', () => {
  // HDR-10, README "What the upstream receives": x-authenticated-subject is the token's `sub`, and
  // "Identity values are percent-encoded where they hold anything but visible ASCII". BUG: headerSafe
  // (src/forward/headers.ts:80-95) keeps SP (0x20), which is not visible ASCII, also at the start and
  // the end of a value; every HTTP parser drops leading and trailing whitespace from a field value
  // (RFC 9110 §5.5), so the subject `alice ` (another principal at the AS) reaches the upstream as
  // `alice`, and the subject ` ` as an empty one: two identities collapse into one.
  it('a sub with trailing / leading whitespace is not delivered as another subject', async () => {
    const got: Record<string, unknown> = {};
    for (const sub of ['alice', 'alice ', ' alice', ' ']) {
      const before = h.upstream.received.length;
      const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound(h, { sub })), ['x-fapi-interaction-id', randomUUID()]] });
      if (r.status !== 200) {
        got[JSON.stringify(sub)] = `refused ${r.status}`;
        continue;
      }
      expect(h.upstream.received.length).toBe(before + 1);
      got[JSON.stringify(sub)] = h.upstream.received.at(-1)!.headers['x-authenticated-subject'];
    }
    // Distinct subjects must stay distinct (or be refused), never collapse onto another one.
    const values = Object.values(got).filter((v) => typeof v === 'string' && !v.startsWith('refused '));
    expect(new Set(values).size, JSON.stringify(got)).toBe(values.length);
    expect(got['" "'], 'sub " " read upstream as an empty subject').not.toBe('');
  });
});

describe('HDR-10 / MTLS-5: the ssl-client-* family of client-certificate headers', () => {
  // HDR-10 ("Client-Cert*" ... strip inbound trust headers), README: "Every client-sent identity,
  // certificate and forwarding header is stripped". BUG: only the exact `ssl-client-cert` is stripped
  // (src/forward/headers.ts:25-27 ALWAYS_STRIPPED, strippedPrefix has no `ssl-client-` prefix), so the
  // rest of the family a TLS-terminating nginx/Apache/HAProxy hop sets (`SSL_CLIENT_VERIFY`,
  // `SSL_CLIENT_S_DN`, `SSL_CLIENT_CERT_CHAIN_0`, `ssl-client-verify`, `ssl-client-subject-dn`) and that an
  // upstream formerly behind such a hop trusts, passes through from any client.
  it('SSL_CLIENT_VERIFY: SUCCESS, SSL_CLIENT_S_DN: CN=victim ... never reach the upstream', async () => {
    const spoofed: [string, string][] = [
      ['SSL_CLIENT_VERIFY', 'SUCCESS'],
      ['SSL_CLIENT_S_DN', 'CN=victim'],
      ['SSL_CLIENT_CERT_CHAIN_0', 'spoofed-chain'],
      ['ssl-client-verify', 'SUCCESS'],
      ['ssl-client-subject-dn', 'CN=victim'],
      ['SSL-Client-Issuer-DN', 'CN=Trusted CA'],
    ];
    const before = h.upstream.received.length;
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [bearer(await bound(h)), ...spoofed] });
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    const up = h.upstream.received.at(-1)!;
    const leaked = spoofed.filter(([n]) => cgiValues(up, n.toLowerCase().replaceAll('_', '-')).length > 0).map(([n]) => n);
    expect(leaked).toEqual([]);
  });
});

describe('pins: trailers and upstream interim responses carry nothing to the other side', () => {
  it('HDR-10 / HDR-12: identity headers sent as request trailers never reach the upstream', async () => {
    const token = await bound(h, { sub: 'alice' });
    const before = h.upstream.received.length;
    const { response } = await h.raw(
      'POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\n' +
        `Authorization: Bearer ${token}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Authenticated-Subject, X-Forwarded-For\r\nTE: trailers\r\nConnection: close\r\n\r\n' +
        '7\r\n{"a":1}\r\n0\r\nX-Authenticated-Subject: victim\r\nX-Forwarded-For: 6.6.6.6\r\nX_Authenticated_Subject: victim\r\n\r\n',
      1500,
    );
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(h.upstream.received.length).toBe(before + 1);
    const up = h.upstream.received.at(-1)!;
    expect(up.body.toString()).toBe('{"a":1}');
    expect(rawValues(up, 'x-authenticated-subject')).toEqual(['alice']);
    expect(up.headers.trailer).toBeUndefined();
    expect(JSON.stringify(up.rawHeaders)).not.toContain('victim');
  });
});

describe('pins: what an upstream sends around its answer', () => {
  it('HDR-1 / HDR-12: a 103 with its own interaction id, and response trailers, do not reach the client; the id is the gateway\'s', async () => {
    const { startRawUpstream } = await import('../support/upstream.js');
    const up = await startRawUpstream((s) => {
      s.write(
        'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\nX-FAPI-Interaction-ID: upstream-103\r\n\r\n' +
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Fapi-Interaction-Id: upstream-id\r\nTransfer-Encoding: chunked\r\nTrailer: X-Fapi-Interaction-Id\r\nConnection: close\r\n\r\n' +
          '2\r\n{}\r\n0\r\nX-Fapi-Interaction-Id: upstream-trailer\r\n\r\n',
      );
      s.end();
    });
    const g = await startHarness({ upstream: up });
    try {
      const id = randomUUID();
      const { response } = await g.raw(
        `GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${await bound(g)}\r\nx-fapi-interaction-id: ${id}\r\nConnection: close\r\n\r\n`,
        1500,
      );
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(response).not.toMatch(/upstream-/);
      expect(response).not.toMatch(/^HTTP\/1\.1 103/m);
      expect(response.match(/x-fapi-interaction-id: [^\r]*/gi)).toEqual([`x-fapi-interaction-id: ${id}`]);
    } finally {
      await g.close();
      await up.close();
    }
  });
});
