// DpopVerifier.verify with pre-signed proofs (a different jti each call; the key cache is warm, as it is
// for a returning client), against the bare signature verification it contains.
import { verify } from 'node:crypto';
import { DpopVerifier } from '../../dist/binding/dpop-proof.js';
import { HTU, fixtures } from './_fixtures.mjs';

/** JWS ES256 signature (r || s, 32 bytes each) as a DER ECDSA-Sig-Value, the form node:crypto takes natively. */
export function p1363ToDer(sig) {
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0 && (b[i + 1] & 0x80) === 0) i++;
    const v = b.subarray(i);
    return v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
  };
  const r = int(sig.subarray(0, 32));
  const s = int(sig.subarray(32, 64));
  return Buffer.concat([Buffer.from([0x30, r.length + s.length + 4, 0x02, r.length]), r, Buffer.from([0x02, s.length]), s]);
}

export default async function () {
  const f = await fixtures();
  const verifier = new DpopVerifier({ algorithms: ['PS256', 'ES256', 'EdDSA', 'Ed25519'], iatPastS: 300, iatFutureS: 10, keyPrefix: 'fapi:dpop:' });
  const input = (proof, token, jkt) => ({ proofs: [proof], method: 'GET', htu: HTU, accessToken: token, expectedJkt: jkt, nonceRequired: false });
  const es = f.es256Proofs.map((p) => input(p, f.token, f.jkt));
  const ed = f.edProofs.map((p) => input(p, f.edToken, f.edJkt));
  await verifier.verify(es[0]);
  await verifier.verify(ed[0]);
  let i = 0;
  let j = 0;
  const p0 = f.es256Proofs[0];
  const dot = p0.lastIndexOf('.');
  const signingInput = Buffer.from(p0.slice(0, dot));
  const sig = Buffer.from(p0.slice(dot + 1), 'base64url');
  if (!verify('sha256', signingInput, f.dpopPublicKey, p1363ToDer(sig))) throw new Error('p1363ToDer is wrong');
  return [
    { name: 'DPoP proof: DpopVerifier.verify ES256', fn: async () => { await verifier.verify(es[i++ % es.length]); } },
    { name: 'DPoP proof: DpopVerifier.verify EdDSA', fn: async () => { await verifier.verify(ed[j++ % ed.length]); } },
    { name: 'DPoP proof: node:crypto ES256 verify alone ({key, dsaEncoding: ieee-p1363}, before 65eabe3)', fn: () => { verify('sha256', signingInput, { key: f.dpopPublicKey, dsaEncoding: 'ieee-p1363' }, sig); } },
    { name: 'DPoP proof: node:crypto ES256 verify alone (KeyObject + DER signature, as now)', fn: () => { verify('sha256', signingInput, f.dpopPublicKey, p1363ToDer(sig)); } },
  ];
}
