// Pre-signed DPoP proofs (ES256/EdDSA over node:crypto), each with a fresh jti and iat = now, so a
// load generator never signs while it measures.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';

const b64u = (s) => Buffer.from(s).toString('base64url');

export function makeProofs(p, count) {
  const key = createPrivateKey({ key: p.privateJwk, format: 'jwk' });
  const header = b64u(JSON.stringify({ typ: 'dpop+jwt', alg: p.alg, jwk: p.publicJwk }));
  const iat = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const input = `${header}.${b64u(JSON.stringify({ jti: randomUUID(), htm: p.htm, htu: p.htu, iat, ath: p.ath }))}`;
    const sig =
      p.alg === 'ES256'
        ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
        : sign(null, Buffer.from(input), key);
    out[i] = `${input}.${sig.toString('base64url')}`;
  }
  return out;
}
