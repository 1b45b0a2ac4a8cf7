// Found in review (fixed; the test failed before): a review of the change e89c299: the reload fallback for a refused config file, with server.workers
// (the primary watches the files, the workers reload when it says so). The real CLI, 2 workers, Redis.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { eventually, freePort, gatewayConfig, killAll, startCluster, uniquePrefix, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';
import { issueServerCert } from '../support/pki.js';
import { secretVolume, servedFingerprint } from '../support/secret-volume.js';

let w: World;
beforeAll(async () => {
  w = await world('reload-fallback');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('server.workers: 2, two refused ConfigMap edits, then a cert-manager renewal', () => {
  // README "Operating it" ("a Secret that cert-manager renews is served to new connections without a
  // signal or a restart"; "an invalid file is refused and the old config keeps serving") and the claim of
  // e89c299 ("the watcher keeps the serving config's files beside the refused one's"). The bug was: in cluster mode
  // the primary re-arms its watcher with `rearm(parsed, next)` (src/cli.ts:226), where `parsed` is the
  // last config that *parsed*, not the one the workers serve. After a second edit that parses but the
  // workers refuse (a ConfigMap naming a Secret not mounted yet, twice), the serving config's certificate
  // files are no longer watched at all: the renewal never reaches the workers, which serve the old
  // certificate until it expires. (The single-process path tracks `serving` and is right.)
  const scenario = async (edits: string[]): Promise<boolean> => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const prefix = uniquePrefix('reload-fallback');
    const secretDir = join(w.files.dir, `fallback-secret-${edits.length}`);
    const secret = secretVolume(secretDir, w.pki.server);
    const cfg = (certDir: string): Record<string, any> => {
      const c = gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix }) as Record<string, any>;
      c.server.tls = { cert_file: join(certDir, 'tls.crt'), key_file: join(certDir, 'tls.key') };
      return c;
    };
    const file = writeConfig(w, `reload-fallback-${edits.length}`, cfg(secretDir));
    let p: Proc | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const lp = p;
      const refusals = (): number => lp.lines.filter((l) => String(l.msg).startsWith('config reload refused')).length;
      expect(await servedFingerprint(apiPort, w.pki.ca.certPem)).toBe(new X509Certificate(w.pki.server.certPem).fingerprint256);
      // Two ConfigMap edits naming Secrets that are not mounted (yet): each parses, the workers refuse it.
      for (const missing of edits) {
        const before = refusals();
        writeFileSync(file, stringify(cfg(join(w.files.dir, missing))));
        await eventually(async () => refusals() >= before + 2, 15_000);
      }
      // cert-manager renews the serving Secret.
      const renewed = await issueServerCert(w.pki.ca, { cn: 'localhost' });
      secret.swap(renewed);
      const want = new X509Certificate(renewed.certPem).fingerprint256;
      // The watcher polls every 5 s at worst; four new connections reach both workers.
      const until = Date.now() + 12_000;
      let seen: string[] = [];
      while (Date.now() < until) {
        seen = await Promise.all(Array.from({ length: 4 }, () => servedFingerprint(apiPort, w.pki.ca.certPem)));
        if (seen.every((f) => f === want)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      return seen.every((f) => f === want);
    } finally {
      killAll();
    }
  };
  it('control (passes): one refused edit, then the renewal -> served by every worker', async () => {
    expect(await scenario(['not-mounted-1'])).toBe(true);
  }, 90_000);
  it('two refused edits, then the renewal -> served by every worker', async () => {
    expect(await scenario(['not-mounted-2', 'not-mounted-3'])).toBe(true);
  }, 90_000);
});
