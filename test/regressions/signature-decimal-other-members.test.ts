// Found in review (fixed; the test failed before): refuseDecimalTimes() scans the whole Signature-Input
// field, every member, so a request whose fapi-2-request signature is fine is refused because ANOTHER
// signature on it (a proxy's, an earlier hop's) has a Decimal `created`. README (Signed requests,
// "Which signature"): "Other signatures on the request (a proxy's) are ignored." Only the selected
// member's parameters should be checked.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClientKeyring } from '../../src/signature/client-keys.js';
import { RequestSignatureVerifier } from '../../src/signature/request-signature.js';

const pair = generateKeyPairSync('ed25519');
const keys = new ClientKeyring(new Map([['c1', new Map([['k1', { key: pair.publicKey, alg: 'Ed25519' as const }]])]]));
const NOW = 1_700_000_000;
const verifier = new RequestSignatureVerifier(keys, 60, () => NOW);
const TARGET = 'https://api.test/x';

async function verify(otherMember: string | undefined): Promise<string> {
  const list = '("@method" "@target-uri" "authorization")';
  const params = `;created=${NOW};keyid="k1";tag="fapi-2-request"`;
  const base = `"@method": GET\n"@target-uri": ${TARGET}\n"authorization": Bearer t\n"@signature-params": ${list}${params}`;
  const sig = sign(null, Buffer.from(base), pair.privateKey).toString('base64');
  const inputs = [...(otherMember === undefined ? [] : [otherMember]), `sig1=${list}${params}`].join(', ');
  const sigs = [...(otherMember === undefined ? [] : ['proxy=:AAAA:']), `sig1=:${sig}:`].join(', ');
  try {
    await verifier.verify({ method: 'GET', targetUri: TARGET, rawHeaders: ['Authorization', 'Bearer t', 'Signature-Input', inputs, 'Signature', sigs], hasBody: false }, 'c1');
    return 'accepted';
  } catch (e) {
    return (e as Error).message;
  }
}

describe('the Decimal check looks at the fapi-2-request signature only', () => {
  it('another member with an Integer created: accepted (baseline)', async () => {
    expect(await verify(`proxy=("@method");created=${NOW}`)).toBe('accepted');
  });
  it("another member (a proxy's) with a Decimal created: still accepted, that signature is not the gateway's business", async () => {
    // Fails: "SIG-4 created or expires is a Decimal, not an Integer (RFC 9421 §2.3)".
    expect(await verify(`proxy=("@method");created=${NOW}.5`)).toBe('accepted');
  });
});
