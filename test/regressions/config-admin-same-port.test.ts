// Found in review (failed on the code before its fix).
// `check` accepts admin.listen equal to server.listen (or the same port on 0.0.0.0 and a specific
// address), then the start fails with EADDRINUSE: the cross-checks in load.ts never compare the two
// listeners.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/main.js';
import { freePort } from '../support/redis.js';
import { writePki } from '../support/pki.js';
import { Writable } from 'node:stream';

describe('admin.listen and server.listen on the same port', () => {
  it('is refused by the config check instead of failing at start', async () => {
    const files = await writePki();
    const port = await freePort();
    const text = stringify({
      server: { listen: `127.0.0.1:${port}`, public_origin: 'https://api.test', tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      admin: { listen: `127.0.0.1:${port}` },
      issuers: { as: { issuer: 'https://127.0.0.1:9', jwks_uri: 'https://127.0.0.1:9/jwks' } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['as'], audience: 'x' }, upstream: { url: 'http://127.0.0.1:9' } }],
    });
    let verdict: string;
    try {
      const loaded = parseConfig(text, 'x.yaml', {});
      try {
        const running = await startGateway(loaded, { logDestination: new Writable({ write: (_c, _e, cb) => cb() }) as never });
        await running.close(100);
        verdict = 'starts';
      } catch (e) {
        verdict = `validated, then the start failed: ${(e as Error).message}`;
      }
    } catch (e) {
      verdict = e instanceof ConfigError ? 'refused by the config check' : `threw ${(e as Error).message}`;
    }
    expect(verdict).toBe('refused by the config check');
  }, 30_000);
});

describe('admin.listen and server.listen that can both bind', () => {
  const at = (server: string, admin: string) =>
    stringify({
      server: { listen: server, public_origin: 'https://api.test', tls: { cert_file: 's.crt', key_file: 's.key' } },
      admin: { listen: admin },
      issuers: { as: { issuer: 'https://127.0.0.1:9', jwks_uri: 'https://127.0.0.1:9/jwks' } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['as'], audience: 'x' }, upstream: { url: 'http://127.0.0.1:9' } }],
    });
  it('are accepted: other ports, port 0, or an IPv4 wildcard beside an IPv6 address; refused: :: beside anything', () => {
    for (const [server, admin] of [['0.0.0.0:8443', '[::1]:8443'], ['127.0.0.1:0', '127.0.0.1:0'], ['0.0.0.0:8443', '0.0.0.0:9090']]) {
      expect(() => parseConfig(at(server!, admin!), 'x.yaml', {}), `${server} + ${admin}`).not.toThrow();
    }
    for (const [server, admin] of [['[::]:8443', '127.0.0.1:8443'], ['0.0.0.0:8443', '127.0.0.1:8443']]) {
      expect(() => parseConfig(at(server!, admin!), 'x.yaml', {}), `${server} + ${admin}`).toThrow(ConfigError);
    }
  });
});
