// extractCredentials: the Authorization (+ DPoP) header fields of a request, counted and parsed.
import { extractCredentials } from '../../dist/token/credentials.js';
import { fixtures } from './_fixtures.mjs';

export default async function () {
  const { token, es256Proofs } = await fixtures();
  const dpopReq = { headersDistinct: { authorization: [`DPoP ${token}`], dpop: [es256Proofs[0]] }, headers: {} };
  const bearerReq = { headersDistinct: { authorization: [`Bearer ${token}`] }, headers: {} };
  const batch = 100;
  return [
    { name: 'credentials: DPoP scheme + proof', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(dpopReq, '', 8192); } },
    { name: 'credentials: Bearer', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(bearerReq, '', 8192); } },
    { name: 'credentials: Bearer, with a query to scan', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(bearerReq, 'page=2&size=50&sort=date', 8192); } },
  ];
}
