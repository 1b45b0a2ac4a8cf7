// Found in review (fixed; the test failed before): `created` (and `expires`) must be Integers. A
// Decimal with a zero fraction (`created=1700000000.0`, or `.000`) is parsed by structured-headers to the
// JS number 1700000000, which integerParam() takes for an Integer; the @signature-params line is then
// re-serialized from that number as `created=1700000000`, not as the Decimal that was sent (RFC 8941
// §4.1.5 would give `1700000000.0`). So a Signature-Input whose `created` is a Decimal is accepted
// (a `.5` is refused, a `.0` is not), and the covered @signature-params is not the serialization of the
// parameters actually received.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RequestSignatureVerifier } from '../../src/signature/request-signature.js';
import { ClientKeyring } from '../../src/signature/client-keys.js';

const pair = generateKeyPairSync('ed25519');
const keys = new ClientKeyring(new Map([['c1', new Map([['k1', { key: pair.publicKey, alg: 'Ed25519' as const }]])]]));
const NOW = 1_700_000_000;
const verifier = new RequestSignatureVerifier(keys, 60, () => NOW);
const TARGET = 'https://api.test/x';

async function outcome(createdAsSent: string, createdInBase: string, extra = ''): Promise<string> {
  const list = '("@method" "@target-uri" "authorization")';
  const base = `"@method": GET\n"@target-uri": ${TARGET}\n"authorization": Bearer t\n"@signature-params": ${list};created=${createdInBase};keyid="k1";tag="fapi-2-request"${extra}`;
  const sig = sign(null, Buffer.from(base), pair.privateKey).toString('base64');
  const input = `sig1=${list};created=${createdAsSent};keyid="k1";tag="fapi-2-request"${extra}`;
  try {
    await verifier.verify({ method: 'GET', targetUri: TARGET, rawHeaders: ['Authorization', 'Bearer t', 'Signature-Input', input, 'Signature', `sig1=:${sig}:`], hasBody: false }, 'c1');
    return 'accepted';
  } catch (e) {
    return (e as Error).message;
  }
}

describe('SIG-4: created must be an Integer (RFC 9421 §2.3)', () => {
  it('baseline: an Integer created is accepted, a Decimal with a fraction refused', async () => {
    expect(await outcome(`${NOW}`, `${NOW}`)).toBe('accepted');
    expect(await outcome(`${NOW}.5`, `${NOW}.5`)).toMatch(/SIG-4 created or expires is a Decimal/);
  });
  it('a Decimal created with a zero fraction (".0", ".000") is refused like any Decimal', async () => {
    // The signature is over the Integer form the gateway re-serializes: today it verifies.
    expect(await outcome(`${NOW}.0`, `${NOW}`)).toMatch(/SIG-4/);
    expect(await outcome(`${NOW}.000`, `${NOW}`)).toMatch(/SIG-4/);
  });
  it('an expires sent as a Decimal with a zero fraction is refused', async () => {
    expect(await outcome(`${NOW}`, `${NOW}`, `;expires=${NOW + 30}`)).toBe('accepted');
    const list = '("@method" "@target-uri" "authorization")';
    const base = `"@method": GET\n"@target-uri": ${TARGET}\n"authorization": Bearer t\n"@signature-params": ${list};created=${NOW};keyid="k1";tag="fapi-2-request";expires=${NOW + 30}`;
    const sig = sign(null, Buffer.from(base), pair.privateKey).toString('base64');
    const input = `sig1=${list};created=${NOW};keyid="k1";tag="fapi-2-request";expires=${NOW + 30}.0`;
    await expect(
      verifier.verify({ method: 'GET', targetUri: TARGET, rawHeaders: ['Authorization', 'Bearer t', 'Signature-Input', input, 'Signature', `sig1=:${sig}:`], hasBody: false }, 'c1'),
    ).rejects.toThrow(/SIG-4/);
  });
});
