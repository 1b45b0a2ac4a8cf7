// MTLS-5: the client certificate from a trusted TLS-terminating hop (RFC 9440 Client-Cert, Envoy XFCC,
// nginx ssl-client-cert), honoured only from configured peers and stripped before forwarding, always.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { createCa, issueClientCert, issueServerCert, testPki, type Pem } from '../support/pki.js';

const asRfc9440 = (p: Pem) => `:${p.der.toString('base64')}:`;
const asNginx = (p: Pem) => encodeURIComponent(p.certPem);
const asXfcc = (p: Pem) => `By=spiffe://cluster/ns/gw;Hash=${'0'.repeat(64)};Cert="${encodeURIComponent(p.certPem)}";Subject="CN=x"`;
const routes = [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' } }];

async function withGateway(forwarded: Record<string, unknown>, f: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({ routes, patch: (c) => (c.server.forwarded_client_cert = forwarded) });
  try {
    await f(h);
  } finally {
    await h.close();
  }
}

const bound = (h: Harness, p: Pem) => h.issuer.mint({ cnf: cnfX5t(p.x5tS256) });

describe('MTLS-5: certificate forwarded by a trusted hop', () => {
  it('RFC 9440 Client-Cert from a trusted CIDR binds; another certificate does not; the header never reaches upstream', async () => {
    await withGateway({ header: 'client-cert', trusted_peers: ['127.0.0.0/8'] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      const ok = await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client1)]] });
      expect(ok.status).toBe(200);
      expect(h.upstream.received.at(-1)!.headers['client-cert']).toBeUndefined();
      expect(h.upstream.received.at(-1)!.headers['x-authenticated-key-thumbprint']).toBe(h.pki.client1.x5tS256);
      const other = await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client2)]] });
      expect(other.status).toBe(401);
      expect(other.headers['www-authenticate']).toContain('error="invalid_token"');
      const none = await h.call('/x', { headers: [['Authorization', `Bearer ${token}`]] });
      expect(none.status).toBe(401);
    });
  });

  it('Envoy/Istio x-forwarded-client-cert (Cert=) and nginx ssl-client-cert are read', async () => {
    await withGateway({ header: 'x-forwarded-client-cert', trusted_peers: ['127.0.0.1'] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      const r = await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['x-forwarded-client-cert', asXfcc(h.pki.client1)]] });
      expect(r.status).toBe(200);
      const hashOnly = `Hash=${Buffer.from(h.pki.client1.x5tS256, 'base64url').toString('hex')};Subject="CN=x"`;
      expect((await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['x-forwarded-client-cert', hashOnly]] })).status).toBe(200);
      expect(h.upstream.received.at(-1)!.headers['x-forwarded-client-cert']).toBeUndefined();
    });
    await withGateway({ header: 'ssl-client-cert', trusted_peers: ['127.0.0.1/32'] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      expect((await h.call('/x', { headers: [['Authorization', `Bearer ${token}`], ['ssl-client-cert', asNginx(h.pki.client1)]] })).status).toBe(200);
    });
  });

  it('MTLS-5: XFCC quoting is honoured: a Subject with escaped quotes cannot smuggle a second Hash= for another client', async () => {
    await withGateway({ header: 'x-forwarded-client-cert', trusted_peers: ['127.0.0.1'] }, async (h) => {
      const hex = (p: Pem) => Buffer.from(p.x5tS256, 'base64url').toString('hex');
      const victimToken = await bound(h, h.pki.client1);
      // What Envoy writes for an attacker (client2) whose certificate Subject is `CN=a";Hash=<victim>;x="`:
      // the value is quoted and its quotes escaped as \".
      const forged = `By=spiffe://cluster/ns/gw;Hash=${hex(h.pki.client2)};Subject="CN=a\\";Hash=${hex(h.pki.client1)};x=\\"";URI=`;
      const r = await h.call('/x', { headers: [['Authorization', `Bearer ${victimToken}`], ['x-forwarded-client-cert', forged]] });
      expect(r.status).toBe(401);
      // The attacker's own hash is what the element says, so its own token binds.
      const own = await h.call('/x', { headers: [['Authorization', `Bearer ${await bound(h, h.pki.client2)}`], ['x-forwarded-client-cert', forged]] });
      expect(own.status).toBe(200);
      // Two Hash= pairs in one element (outside quotes) are ambiguous: no certificate at all.
      const twice = `Hash=${hex(h.pki.client2)};Hash=${hex(h.pki.client1)}`;
      expect((await h.call('/x', { headers: [['Authorization', `Bearer ${victimToken}`], ['x-forwarded-client-cert', twice]] })).status).toBe(401);
    });
  });

  it('from an untrusted peer the header is ignored (a client cannot claim another client\'s certificate)', async () => {
    await withGateway({ header: 'client-cert', trusted_peers: ['10.0.0.0/8'] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      const before = h.upstream.received.length;
      const r = await h.call('/x', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client1)]] });
      expect(r.status).toBe(401);
      expect(h.upstream.received.length).toBe(before);
      // Its own TLS certificate still binds, and the spoofed header is stripped on the way up.
      const own = await h.call('/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client2)]] });
      expect(own.status).toBe(200);
      expect(h.upstream.received.at(-1)!.headers['client-cert']).toBeUndefined();
    });
  });

  it('an mTLS hop is trusted by its pinned certificate, not by address', async () => {
    await withGateway({ header: 'client-cert', trusted_peer_certificates: ['x'.repeat(43)] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      expect((await h.call('/x', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client1)]] })).status).toBe(401);
    });
    const hop = (await testPki()).client2.x5tS256;
    await withGateway({ header: 'client-cert', trusted_peer_certificates: [hop] }, async (h) => {
      const token = await bound(h, h.pki.client1);
      const r = await h.call('/x', { cert: h.pki.client2, headers: [['Authorization', `Bearer ${token}`], ['Client-Cert', asRfc9440(h.pki.client1)]] });
      expect(r.status).toBe(200);
      expect(h.upstream.received.at(-1)!.headers['x-authenticated-key-thumbprint']).toBe(h.pki.client1.x5tS256);
    });
  });
});

describe('MTLS-4 / MTLS-5: with client_ca_file, a forwarded certificate must pass what a direct TLS connection checks', () => {
  const DAY = 86_400_000;
  it('not yet valid, expired, or restricted to serverAuth -> 401 invalid_token; a valid CA-issued one -> 200', async () => {
    const h = await startHarness({
      routes,
      patch: (c) => {
        c.server.forwarded_client_cert = { header: 'client-cert', trusted_peers: ['127.0.0.1'] };
        c.server.tls.client_ca_file = c.issuers.main.ca_file;
      },
    });
    try {
      const { ca } = await testPki();
      const now = Date.now();
      const refused: [string, Pem][] = [
        ['not yet valid', await issueClientCert(ca, 'future', { notBefore: new Date(now + 10 * DAY), notAfter: new Date(now + 20 * DAY) })],
        ['expired', await issueClientCert(ca, 'old', { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now - 10 * DAY) })],
        ['serverAuth only', await issueServerCert(ca, { cn: 'a-server' })],
      ];
      for (const [what, cert] of refused) {
        const r = await h.call('/x', { headers: [['Authorization', `Bearer ${await bound(h, cert)}`], ['Client-Cert', asRfc9440(cert)]] });
        expect(r.status, what).toBe(401);
        expect(r.headers['www-authenticate'], what).toContain('error="invalid_token"');
      }
      const ok = await h.call('/x', { headers: [['Authorization', `Bearer ${await bound(h, h.pki.client1)}`], ['Client-Cert', asRfc9440(h.pki.client1)]] });
      expect(ok.status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('MTLS-4 / MTLS-5: a client_ca_file with several CAs', () => {
  it('a certificate issued by any CA of the file binds (the second one included); one from a CA outside it does not', async () => {
    const { ca } = await testPki();
    const [other, outside] = await Promise.all([createCa('another issuing CA'), createCa('not in the file')]);
    const bundle = join(await mkdtemp(join(tmpdir(), 'fapi-cas-')), 'client-cas.pem');
    // The test CA second: only the first certificate of the file was read before.
    await writeFile(bundle, other.certPem + ca.certPem);
    const h2 = await startHarness({
      routes,
      patch: (c) => {
        c.server.forwarded_client_cert = { header: 'client-cert', trusted_peers: ['127.0.0.1'] };
        c.server.tls.client_ca_file = bundle;
      },
    });
    try {
      const fromSecond = h2.pki.client1;
      const fromFirst = await issueClientCert(other, 'first-ca-client');
      const fromOutside = await issueClientCert(outside, 'stranger');
      for (const [what, cert, status] of [['second CA', fromSecond, 200], ['first CA', fromFirst, 200], ['CA outside the file', fromOutside, 401]] as const) {
        const r = await h2.call('/x', { headers: [['Authorization', `Bearer ${await bound(h2, cert)}`], ['Client-Cert', asRfc9440(cert)]] });
        expect(r.status, what).toBe(status);
      }
    } finally {
      await h2.close();
    }
  });
});
