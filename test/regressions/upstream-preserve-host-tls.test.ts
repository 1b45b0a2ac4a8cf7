// Found in review (fixed; the test failed before): outbound dependencies: TLS-11 (verify the upstream's certificate per RFC 9525) on a route with
// `upstream.preserve_host: true` and an https:// upstream. The library hands Node the client's Host header
// as the upstream request's Host; Node's https agent takes the TLS server name (SNI and the name the
// certificate is checked against) from that header when no `servername` is given
// (src/forward/proxy-forwarder.ts:605-620 sets none). So the upstream's certificate is checked against the
// name the client sent, not against the host in `upstream.url`:
// - an upstream whose certificate names its own host (the usual `https://legacy.internal`) gets 502 on every
//   request of such a route (ERR_TLS_CERT_ALTNAME_INVALID: the public name is not in it);
// - a server whose certificate names only a host the client chose is accepted as the upstream.
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { issueServerCert, testPki } from '../support/pki.js';

let h: Harness;
const seen: IncomingHttpHeaders[] = [];
const servers: ReturnType<typeof createServer>[] = [];
async function upstream(cert: { certPem: string; keyPem: string }): Promise<number> {
  const s = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('upstream');
  });
  s.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  const pki = await testPki();
  // The upstream's own certificate: it names the address in upstream.url (and localhost), not the public name.
  const own = await upstream(await issueServerCert(pki.ca, { cn: 'legacy', dnsNames: ['localhost'], ips: ['127.0.0.1'] }));
  // A server whose certificate (same trusted CA) names only some other host.
  const other = await upstream(await issueServerCert(pki.ca, { cn: 'other', dnsNames: ['other.test'], ips: [] }));
  h = await startHarness({
    routes: [
      { id: 'own', match: { methods: ['GET'], path_prefix: '/own' }, auth: { binding: 'mtls' }, upstream: { url: `https://127.0.0.1:${own}`, preserve_host: true } },
      { id: 'other', match: { methods: ['GET'], path_prefix: '/other' }, auth: { binding: 'mtls' }, upstream: { url: `https://127.0.0.1:${other}`, preserve_host: true } },
      { id: 'plain', match: { methods: ['GET'], path_prefix: '/plain' }, auth: { binding: 'mtls' }, upstream: { url: `https://127.0.0.1:${own}` } },
    ],
    patch: (c) => {
      for (const r of c.routes) r.upstream.ca_file = c.issuers.main.ca_file;
    },
  });
});
afterAll(async () => {
  await h?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

const get = async (path: string, host: string) => {
  const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  return h.call(path, { cert: h.pki.client1, headers: [['Host', host], ['Authorization', `Bearer ${token}`]] });
};

describe('TLS-11 with upstream.preserve_host on an https:// upstream', () => {
  it('control: without preserve_host the upstream certificate for 127.0.0.1 is accepted', async () => {
    expect((await get('/plain/1', 'api.test')).status).toBe(200);
  });

  it('the upstream\'s own certificate (naming the host in upstream.url) is accepted, and the upstream gets the client\'s Host', async () => {
    seen.length = 0;
    const r = await get('/own/1', 'api.test');
    expect({ status: r.status, host: seen[0]?.host }).toEqual({ status: 200, host: 'api.test' });
  });

  it('a certificate naming only the host the client sent, not the one in upstream.url, is refused: 502, nothing forwarded', async () => {
    seen.length = 0;
    const r = await get('/other/1', 'other.test');
    expect({ status: r.status, forwarded: seen.length }).toEqual({ status: 502, forwarded: 0 });
  });
});
