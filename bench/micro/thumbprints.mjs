// Thumbprints: RFC 7638 JWK thumbprint (jwkThumbprint) and the certificate x5t#S256 (SHA-256 of the DER,
// as request-facts computes once per TLS connection).
import { createHash, hash } from 'node:crypto';
import { jwkThumbprint } from '../../dist/binding/dpop-proof.js';
import { fixtures } from './_fixtures.mjs';
import '../lib/ts-hooks.mjs';

export default async function () {
  const f = await fixtures();
  const { testPki } = await import('../../test/support/pki.ts');
  const der = (await testPki()).client1.der;
  const batch = 50;
  return [
    { name: 'thumbprint: jwkThumbprint (EC P-256)', batch, fn: () => { for (let i = 0; i < batch; i++) jwkThumbprint(f.dpopJwk); } },
    { name: 'thumbprint: certificate SHA-256 (x5t#S256)', batch, fn: () => { for (let i = 0; i < batch; i++) createHash('sha256').update(der).digest('base64url'); } },
    // The gateway hashes the access token 2-3 times per request (cache key, ath, log): createHash vs one-shot.
    { name: 'SHA-256 of the access token: createHash().update().digest()', batch, fn: () => { for (let i = 0; i < batch; i++) createHash('sha256').update(f.token).digest('hex'); } },
    { name: 'SHA-256 of the access token: crypto.hash() one-shot', batch, fn: () => { for (let i = 0; i < batch; i++) hash('sha256', f.token, 'hex'); } },
  ];
}
