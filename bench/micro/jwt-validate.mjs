// JwtValidator.validate with a local key source: cold (a fresh validator, so the signature is verified)
// and cached (the per-request path: SHA-256 of the token, cache lookup, time and route checks).
import { JwtValidator, sha256Hex } from '../../dist/token/jwt-validator.js';
import { fixtures } from './_fixtures.mjs';

export default async function () {
  const { issuer, token, route } = await fixtures();
  const warm = new JwtValidator([issuer]);
  await warm.validate(token, route);
  const batch = 20;
  return [
    { name: 'access token: validate cold (ES256 verify via jose)', fn: async () => { await new JwtValidator([issuer]).validate(token, route); } },
    { name: 'access token: validate cached', batch, fn: async () => { for (let i = 0; i < batch; i++) await warm.validate(token, route); } },
    { name: 'access token: sha256Hex(token) alone', batch, fn: () => { for (let i = 0; i < batch; i++) sha256Hex(token); } },
  ];
}
