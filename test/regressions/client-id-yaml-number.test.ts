// Found in review (fixed; the test failed before): `http_signatures.clients` is a map keyed by the
// access token's client_id, and a YAML key that looks like a number is a number: `0123:` becomes the
// client "123", a 20-digit id loses its last digits ("12345678901234567890" -> "12345678901234567000"),
// `1e3:` becomes "1000", `0x1F:` "31". The config is accepted (z.record sees the stringified key), so
// that client's signed requests are refused for ever with "SIG-2 no key ... for client" and nothing says
// why. Numeric client ids are common (AS-generated, bank registries). Elsewhere the config refuses a
// number where a string is meant (route ids, issuer names are checked by a pattern). Expected: the
// config is refused (or the key kept as written).
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { compileClientKeys } from '../../src/signature/client-keys.js';

const jwk = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA' };

function yamlWithClient(rawKey: string): string {
  const base = stringify({
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'c.pem', key_file: 'k.pem' } },
    issuers: { main: { issuer: 'https://as.test', jwks_uri: 'https://as.test/jwks' } },
    routes: [
      {
        id: 'signed',
        match: { methods: ['POST'], path: '/payments' },
        auth: { issuers: ['main'], audience: 'https://api.test', signed_requests: true },
        upstream: { url: 'http://127.0.0.1:1' },
      },
    ],
  });
  // The client id written as an operator would, unquoted.
  return `${base}http_signatures:\n  clients:\n    ${rawKey}:\n      jwks: ${JSON.stringify({ keys: [jwk] })}\n`;
}

describe('a numeric-looking client_id in http_signatures.clients', () => {
  for (const id of ['0123', '12345678901234567890', '1e3']) {
    it(`${id}: kept as written, or the config refused`, () => {
      let clients: string[] | undefined;
      try {
        const loaded = parseConfig(yamlWithClient(id), '<inline>', {});
        clients = [...(compileClientKeys(loaded)?.keys() ?? [])];
      } catch {
        return; // refused: fine
      }
      // Fails: ['123'], ['12345678901234567000'], ['1000'].
      expect(clients).toEqual([id]);
    });
  }
});
