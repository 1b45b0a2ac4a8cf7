// A kubernetes.io/tls Secret volume as the kubelet writes it (versioned directories behind `..data`,
// swapped atomically), and the certificate a new TLS connection is served: for the reload tests.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** `dir/tls.crt` and `dir/tls.key`, holding `first`; swap() puts the next pair in place as the kubelet does. */
export function secretVolume(dir: string, first: PemPair): { swap(next: PemPair): void } {
  rmSync(dir, { recursive: true, force: true });
  let n = 0;
  const put = (pem: PemPair): string => {
    n++;
    const v = `..2026_01_01_00_00_0${n}.000000000`;
    mkdirSync(join(dir, v), { recursive: true });
    writeFileSync(join(dir, v, 'tls.crt'), pem.certPem);
    writeFileSync(join(dir, v, 'tls.key'), pem.keyPem, { mode: 0o600 });
    return v;
  };
  let current = put(first);
  symlinkSync(current, join(dir, '..data'));
  symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(dir, 'tls.key'));
  return {
    swap(next) {
      const v = put(next);
      symlinkSync(v, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, current), { recursive: true });
      current = v;
    },
  };
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:`port` is served. */
export const servedFingerprint = (port: number, caPem: string): Promise<string> =>
  new Promise((ok, fail) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
      ok(s.getPeerX509Certificate()!.fingerprint256);
      s.destroy();
    });
    s.on('error', fail);
    s.setTimeout(5000, () => s.destroy(new Error('no handshake in 5 s')));
  });
