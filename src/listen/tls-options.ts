// TLS-1..TLS-10: TLS 1.2+ (1.3 preferred by OpenSSL's version negotiation), FAPI cipher lists,
// a client certificate requested at the handshake and verified only as policy.
import { constants, createPrivateKey, X509Certificate } from 'node:crypto';
import type { TlsOptions } from 'node:tls';
import { readCaFile, readConfigFile, type LoadedConfig } from '../config/load.js';
import { unservableKeyOf } from './cert-key.js';

const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
/** FAPI 2.0 §5.2.2: the BCP195 (RFC 9325 §4.2) recommended TLS 1.2 suites. */
export const FAPI2_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];
/** FAPI 1.0 Advanced Final §8.5, offered only with `tls.profile: fapi1`. */
export const FAPI1_TLS12_CIPHERS = [
  'DHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];

/**
 * `tls.client_certificate`: OpenSSL refuses a missing or untrusted certificate itself when there is a
 * CA to verify it against; required without a CA is enforced after the handshake (api-server.ts).
 * PRM-6: when metadata is published to connections without a certificate, every handshake completes
 * and the certificate is required per request instead, for everything but the public documents.
 */
export function clientCertificatePolicy(loaded: LoadedConfig): {
  readonly rejectUnauthorized: boolean;
  readonly requiredWithoutCa: boolean;
  readonly requiredPerRequest: boolean;
} {
  const c = loaded.config;
  const required = c.server.tls.client_certificate === 'required';
  const perRequest = required && c.resource_metadata?.without_client_certificate === true;
  const atHandshake = required && !perRequest;
  const hasCa = c.server.tls.client_ca_file !== undefined;
  return { rejectUnauthorized: atHandshake && hasCa, requiredWithoutCa: atHandshake && !hasCa, requiredPerRequest: perRequest };
}

/** `make()`, or an error that names the setting instead of OpenSSL's decoder message alone. */
function parsed<T>(make: () => T, what: string): T {
  try {
    return make();
  } catch (e) {
    throw new Error(`server.tls: ${what} (${(e as Error).message})`);
  }
}

export function tlsOptions(loaded: LoadedConfig): TlsOptions {
  const t = loaded.config.server.tls;
  const ca = t.client_ca_file === undefined ? undefined : readCaFile(loaded, t.client_ca_file, 'server.tls.client_ca_file');
  const cert = readConfigFile(loaded, t.cert_file, 'server.tls.cert_file');
  const key = readConfigFile(loaded, t.key_file, 'server.tls.key_file');
  // OpenSSL takes a key of another type than the certificate's without a word (it fills another slot)
  // and every handshake then fails: refuse it here, at start and on reload (mid-rotation files).
  const x509 = parsed(() => new X509Certificate(cert), `cert_file ${t.cert_file} is not a PEM certificate`);
  const privateKey = parsed(() => createPrivateKey(key), `key_file ${t.key_file} is not a PEM private key`);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`server.tls: key_file ${t.key_file} does not belong to the certificate in cert_file ${t.cert_file}`);
  }
  // TLS-6: RSA >= 2048 or EC P-256 or stronger, on a curve a TLS handshake can use.
  const weak = unservableKeyOf(x509);
  if (weak !== undefined) throw new Error(`server.tls: the certificate in cert_file ${t.cert_file} has a weak key (TLS-6): ${weak}`);
  // the four FAPI 1.0 suites are all RSA-authenticated; with another key no TLS 1.2 client could connect.
  if (t.profile === 'fapi1' && x509.publicKey.asymmetricKeyType !== 'rsa') {
    throw new Error(
      `server.tls: profile fapi1 offers only the FAPI 1.0 TLS 1.2 suites, which need an RSA certificate, and cert_file ${t.cert_file} holds an ${String(x509.publicKey.asymmetricKeyType).toUpperCase()} key: use an RSA certificate, or profile fapi2`,
    );
  }
  return {
    cert,
    key,
    minVersion: 'TLSv1.2',
    ciphers: [...TLS13, ...(t.profile === 'fapi1' ? FAPI1_TLS12_CIPHERS : FAPI2_TLS12_CIPHERS)].join(':'),
    honorCipherOrder: true,
    dhparam: t.profile === 'fapi1' ? 'auto' : undefined,
    ecdhCurve: 'X25519:P-256:P-384',
    // TLS-8: no renegotiation. A TLS 1.2 client could otherwise present another certificate (or none)
    // after the handshake, and Node never withdraws `authorized` (MTLS-4).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    requestCert: true,
    // Self-signed client certificates bind without a CA (RFC 8705 §6.2); with a CA, `authorized` is policy input.
    rejectUnauthorized: clientCertificatePolicy(loaded).rejectUnauthorized,
    ca,
    handshakeTimeout: loaded.config.server.limits.handshake_timeout_ms,
  };
}
