// Found in review (fixed; the test failed before): WHATWG URLs accept `${UPSTREAM_HOST}` as a host, so
// `upstream.url: http://${UPSTREAM_HOST}:8080` (a config ported from envsubst or a Helm template) passed
// `check` and the start, and every request on that route got a 502. Config values are never expanded:
// a URL's host must be a DNS name or an IP address, and the error names the key.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

const config = (upstream: string, jwks = 'https://as.test/jwks'): string =>
  stringify({
    server: { listen: '127.0.0.1:0', public_origin: 'https://api.test', tls: { cert_file: 'c.pem', key_file: 'k.pem' } },
    issuers: { main: { issuer: 'https://as.test', jwks_uri: jwks } },
    routes: [{ id: 'r', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test' }, upstream: { url: upstream } }],
  });

describe('CONF-1: URL hosts are written out, never placeholders', () => {
  it('an upstream url or a jwks_uri with ${...} as its host is refused, naming the key', () => {
    expect(() => parseConfig(config('http://${UPSTREAM_HOST}:8080'), '<inline>', {})).toThrow(/routes\[0\]\.upstream\.url \(line \d+\): the host is not a DNS name or IP address/);
    expect(() => parseConfig(config('http://legacy:8080', 'https://${AS_HOST}/jwks'), '<inline>', {})).toThrow(/issuers\.main\.jwks_uri \(line \d+\): the host is not a DNS name/);
  });

  it('DNS names (with _), IPv4 and IPv6 hosts pass', () => {
    for (const url of ['http://legacy-api.bank.svc.cluster.local:8080', 'http://my_service:80', 'http://10.0.0.7:8080', 'http://[::1]:8080/base']) {
      expect(() => parseConfig(config(url), '<inline>', {}), url).not.toThrow();
    }
  });
});
