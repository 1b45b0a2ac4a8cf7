// buildChallenges: WWW-Authenticate values for a refusal on a route offering Bearer and DPoP.
import { buildChallenges } from '../../dist/errors/challenge.js';
import { GatewayError } from '../../dist/errors/gateway-error.js';

export default async function () {
  const ctx = { schemes: ['bearer', 'dpop'], used: 'dpop', realm: 'api.test', dpopAlgs: ['PS256', 'ES256', 'EdDSA', 'Ed25519'] };
  const invalid = new GatewayError('GW_TOKEN_INVALID', 'bench');
  const bare = new GatewayError('GW_NO_CREDENTIALS', 'bench');
  const scope = new GatewayError('GW_INSUFFICIENT_SCOPE', 'bench', { params: { scope: 'accounts payments' } });
  const batch = 100;
  return [
    { name: 'challenges: invalid_token, two schemes', batch, fn: () => { for (let i = 0; i < batch; i++) buildChallenges(invalid, ctx); } },
    { name: 'challenges: bare (no credentials)', batch, fn: () => { for (let i = 0; i < batch; i++) buildChallenges(bare, { ...ctx, used: undefined }); } },
    { name: 'challenges: insufficient_scope with scope=', batch, fn: () => { for (let i = 0; i < batch; i++) buildChallenges(scope, ctx); } },
  ];
}
