// Found in review (fixed; the test failed before): newcomer walk-through: the Dockerfile opens with a usage comment, the first thing someone reads who
// builds the image from the repository. It still shows the commands the README has since corrected
// (README "Deploy / Container image"):
//   - `docker build -t fapi-gateway .` tags `latest`, while the Helm chart runs `fapi-gateway:<appVersion>`
//     by default (test/deploy/chart-render.test.ts pinned the README for this, not the Dockerfile);
//   - `-v "$PWD/my-gateway.yaml:/etc/fapi-gateway/config.yaml:ro"` mounts the single file, which the
//     README warns against: an editor that saves by replacing the file leaves the container watching the
//     old inode, and hot reload never sees the change;
//   - `-p 9090:9090` publishes the admin listener (/metrics) on every host interface, while the README
//     says "The admin port is published on the host's loopback only (keep it off the API's network)".
// The comment should say what the README says.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The usage comment at the top of the Dockerfile, continuation lines joined. */
const usage = dockerfile
  .split('\n')
  .filter((l) => l.startsWith('#'))
  .map((l) => l.replace(/^#\s?/, ''))
  .join('\n')
  .replace(/\\\n\s*/g, ' ');
const runLine = /docker run [^\n]*/.exec(usage)?.[0] ?? '';

describe('Dockerfile usage comment = README Deploy (review: newcomer)', () => {
  it('builds the tag the README builds (the chart\'s default image)', () => {
    const readmeTag = /docker build -t (\S+) \./.exec(readme)?.[1];
    expect(readmeTag).toMatch(/:/);
    expect(/docker build -t (\S+) \./.exec(usage)?.[1]).toBe(readmeTag);
  });

  it('mounts the config directory, not the single file (hot reload)', () => {
    expect(runLine).not.toBe('');
    const mounts = [...runLine.matchAll(/-v "?([^"\s]+)"?/g)].map((m) => m[1] as string);
    expect(mounts.filter((m) => /:\/etc\/fapi-gateway\/config\.yaml(:ro)?$/.test(m))).toEqual([]);
  });

  it('publishes the admin port on the host\'s loopback only', () => {
    const published = [...runLine.matchAll(/-p (\S+)/g)].map((m) => m[1] as string);
    const admin = published.filter((p) => p.endsWith(':9090'));
    expect(admin.length).toBeGreaterThan(0);
    for (const p of admin) expect(p).toMatch(/^127\.0\.0\.1:/);
  });
});
