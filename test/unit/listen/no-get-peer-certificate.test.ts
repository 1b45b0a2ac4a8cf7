// TLS-9 / MTLS-2: Node 24's TLSSocket.getPeerCertificate() dereferences a NULL curve name for a client
// certificate on a brainpool curve and ends the process with SIGSEGV (any client could send one; see
// test/regressions/brainpool-client-cert-crash.test.ts). getPeerX509Certificate() is safe: src/ must
// only use that one.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('no getPeerCertificate() in src/', () => {
  it('every peer certificate is read with getPeerX509Certificate()', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offenders = files.filter((f) => /\.getPeerCertificate\s*\(/.test(readFileSync(f, 'utf8'))).map((f) => f.slice(SRC.length));
    expect(offenders).toEqual([]);
  });
});
