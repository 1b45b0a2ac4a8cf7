// prepareUpstreamHeaders: strip the spoofable headers and set the identity headers, on a copy of a
// realistic header set (the copy alone is measured too, as the baseline to subtract). responseHeaders:
// the client response's head from the upstream's raw headers.
import { ownedHeaderNames, prepareUpstreamHeaders } from '../../dist/forward/headers.js';
import { responseHeaders } from '../../dist/forward/proxy-forwarder.js';
import { fixtures } from './_fixtures.mjs';

export default async function () {
  const f = await fixtures();
  const names = f.loaded.config.identity_headers;
  const ctx = { names, owned: ownedHeaderNames(names), publicHost: 'api.test' };
  const template = {
    host: 'api.test',
    'user-agent': 'bank-app/7.1',
    accept: 'application/json',
    'accept-encoding': 'gzip',
    authorization: `DPoP ${f.token}`,
    dpop: f.es256Proofs[0],
    'x-fapi-interaction-id': '6f1c1a52-8d0a-4c1e-9a0b-2f7d3c9e4b11',
    'x-fapi-customer-ip-address': '198.51.100.7',
    'x-forwarded-for': '203.0.113.9',
    'x-authenticated-subject': 'spoofed',
  };
  const claims = { issuerName: 'main', issuer: 'https://as.bank.test', subject: 'user-1', clientId: 'client-1', scopes: ['accounts'], audience: ['https://api.test'], expiresAt: 0, cnf: { kind: 'jkt', thumbprint: f.jkt }, tokenHash: 'x' };
  const principal = { claims, binding: { kind: 'dpop', thumbprint: f.jkt } };
  const facts = (headers) => ({ req: { headers }, interactionId: template['x-fapi-interaction-id'], remoteAddress: '127.0.0.1', path: '/dpop/accounts/123', query: '' });
  // What a Node upstream sends, and what the gateway adds on a DPoP route with nonces.
  const upstreamRaw = ['Content-Type', 'application/json', 'Content-Length', '74', 'Date', 'Tue, 24 Nov 2026 05:00:00 GMT', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5'];
  const own = ['x-fapi-interaction-id', template['x-fapi-interaction-id'], 'cache-control', 'no-store', 'dpop-nonce', 'n-1'];
  const batch = 50;
  return [
    { name: 'response head: responseHeaders (Node upstream, nonce route)', batch, fn: () => { for (let i = 0; i < batch; i++) responseHeaders(upstreamRaw, own); } },
    { name: 'identity headers: prepareUpstreamHeaders (incl. copy)', batch, fn: () => { for (let i = 0; i < batch; i++) prepareUpstreamHeaders(facts({ ...template }), f.route, principal, ctx); } },
    { name: 'identity headers: baseline (copy only)', batch, fn: () => { for (let i = 0; i < batch; i++) facts({ ...template }); } },
  ];
}
