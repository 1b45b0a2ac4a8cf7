// JwtValidator.validate with a local key source: cold (a fresh validator, so the signature is verified)
// and cached (SHA-256 of the token, cache lookup, time and route checks), and cached() (the same checks
// without a promise: what the gateway calls first on every request).
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
    { name: 'access token: cached() (no promise, as the gateway calls it)', batch, fn: () => { for (let i = 0; i < batch; i++) if (warm.cached(token, route) === undefined) throw new Error('not cached'); } },
    { name: 'access token: sha256Hex(token) alone', batch, fn: () => { for (let i = 0; i < batch; i++) sha256Hex(token); } },
  ];
}
