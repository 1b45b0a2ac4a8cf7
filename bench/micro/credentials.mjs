// extractCredentials: the Authorization (+ DPoP) header fields of a request, counted and parsed.
import { extractCredentials } from '../../dist/token/credentials.js';
import { fixtures } from './_fixtures.mjs';

export default async function () {
  const { token, es256Proofs } = await fixtures();
  // As Node's parser leaves a request: every field in rawHeaders, beside the usual others.
  const common = ['Host', 'api.test', 'User-Agent', 'bank-app/7.1', 'Accept', 'application/json', 'X-FAPI-Interaction-ID', '6f1c1a52-8d0a-4c1e-9a0b-2f7d3c9e4b11'];
  const dpopReq = { rawHeaders: [...common, 'Authorization', `DPoP ${token}`, 'DPoP', es256Proofs[0]], headers: {} };
  const bearerReq = { rawHeaders: [...common, 'Authorization', `Bearer ${token}`], headers: {} };
  const batch = 100;
  return [
    { name: 'credentials: DPoP scheme + proof', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(dpopReq, '', 8192); } },
    { name: 'credentials: Bearer', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(bearerReq, '', 8192); } },
    { name: 'credentials: Bearer, with a query to scan', batch, fn: () => { for (let i = 0; i < batch; i++) extractCredentials(bearerReq, 'page=2&size=50&sort=date', 8192); } },
  ];
}
