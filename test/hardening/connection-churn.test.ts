// Pins (passing): connections opened and closed in numbers (served, with an untrusted certificate, cut before
// the handshake, cut with the upstream still working) leave no TLS socket, request, response, upstream
// socket or handle behind: api-server's liveConnections set, request-facts' per-connection WeakMap and the
// forwarder's pools all let go of them.
import { queryObjects } from 'node:v8';
import { TLSSocket, connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cnfX5t } from '../support/issuer.js';
import { defaultRoutes, startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ routes: defaultRoutes().map((r) => ({ ...r, upstream: { timeout_ms: 30000 } })) });
});
afterAll(async () => h?.close());

const count = (c: any): number => queryObjects(c, { format: 'count' }) as number;
const handles = (): number => process.getActiveResourcesInfo().length;
const settle = (ms = 1000) => new Promise((r) => setTimeout(r, ms));
const snapshot = () => ({ tls: count(TLSSocket), req: count(IncomingMessage), res: count(ServerResponse), handles: handles() });

describe('connection churn', () => {
  it('500 served connections, 100 untrusted certificates, 100 cut before the handshake, 50 clients gone while the upstream hangs', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    await h.call('/mtls/warm', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    await settle();
    const before = snapshot();
    for (let i = 0; i < 500; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, (_, j) =>
          h.call(`/mtls/p${i + j}`, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] }).then((r) => expect(r.status).toBe(200)),
        ),
      );
    }
    for (let i = 0; i < 100; i++) {
      await new Promise<void>((resolve) => {
        // A certificate the client CAs do not know; the connection is dropped once the handshake is done.
        const s = tlsConnect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.selfSigned.certPem, key: h.pki.selfSigned.keyPem }, () => s.destroy());
        const guard = setTimeout(() => s.destroy(), 2000);
        s.on('error', () => undefined);
        s.on('close', () => (clearTimeout(guard), resolve()));
      });
      await new Promise<void>((resolve) => {
        // Part of a ClientHello, then gone.
        const s = netConnect(h.port, '127.0.0.1', () => s.write('\x16\x03\x01', () => s.destroy()));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    }
    h.upstream.behaviour = 'hang';
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const req = httpsRequest(h.url(`/mtls/a${i}`), { ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, agent: false, headers: { authorization: `Bearer ${token}` } });
            req.on('error', () => undefined);
            req.on('close', () => resolve());
            req.end();
            setTimeout(() => req.destroy(), 300);
          }),
      ),
    );
    h.upstream.behaviour = 'ok';
    await settle(1500);
    const fwd = (h.gw.gateway as any).pipeline.forwarder.httpAgent;
    const pooled = Object.values(fwd.sockets).flat().length + Object.values(fwd.requests).flat().length;
    const after = snapshot();
    console.log('churn', JSON.stringify({ before, after, pooled }));
    expect(after.tls).toBeLessThanOrEqual(before.tls);
    expect(after.req).toBeLessThanOrEqual(before.req + 1);
    expect(after.res).toBeLessThanOrEqual(before.res + 1);
    expect(after.handles).toBeLessThanOrEqual(before.handles);
    expect(pooled).toBe(0);
  }, 120_000);
});
