import type * as X509 from '@peculiar/x509';
import type { webcrypto } from 'node:crypto';

export interface Pem {
  certPem: string;
  keyPem: string;
  der: Buffer;
  /** base64url(sha256(DER)), no padding: the RFC 8705 `x5t#S256` value */
  x5tS256: string;
}
export interface Ca extends Pem {
  keys: webcrypto.CryptoKeyPair;
  cert: X509.X509Certificate;
}
export function createCa(cn: string): Promise<Ca>;
export function issueServerCert(ca: Ca, cn: string, opts?: { dns?: string[]; ips?: string[]; rsa?: boolean }): Promise<Pem>;
export function issueClientCert(ca: Ca, cn: string, when?: { notBefore: Date; notAfter: Date }): Promise<Pem>;
export function selfSignedClientCert(cn: string): Promise<Pem & { jwk: Record<string, unknown> }>;
