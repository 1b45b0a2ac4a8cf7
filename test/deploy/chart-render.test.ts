// Found in review (fixed; the tests marked "The bug was" failed before): how fapi-gateway ships and runs
// on Kubernetes, as a bank platform engineer would deploy it. Unlike test/deploy/helm.test.ts (a stand-in that keeps every branch and renders no value), the chart
// is rendered for real here: values merged over values.yaml, checked against values.schema.json, then
// executed by Go's text/template with the chart's sprig functions (helm-render.ts, helm-render/main.go). The
// rendered config is then given to the real CLI (`fapi-gateway check`) and to a real gateway process.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { adminGet, buildCli, eventually, jsonLines } from '../support/cli.js';
import { testPki, writePki, type PkiFiles } from '../support/pki.js';
import { defaultValues, render, rendererAvailable, schemaErrors, merge, type Values } from './helm-render.js';

// Under CI a missing Go toolchain fails this file instead of skipping it (.ci/run installs golang-go).
const haveRenderer = rendererAvailable();
const d = haveRenderer ? describe : describe.skip;

const redisValues: Values = {
  replicaCount: 3,
  redis: { existingSecret: 'fapi-gateway-redis', urlKey: 'redis-url' },
  config: { replay: { store: 'redis', redis: { mode: 'standalone', url_env: 'REDIS_URL', key_prefix: 'fapi:dpop:' } } },
};

const container = (r: ReturnType<typeof render>): Record<string, any> => r.find('Deployment').spec.template.spec.containers[0];

d('helm chart, rendered for real: what the cluster gets', () => {
  it('default values: a hardened single gateway, probes on the admin port of config.admin.listen, the API Service exposes only the API port', () => {
    const r = render();
    expect(r.docs.map((x) => x.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Service', 'Service']);
    const dep = r.find('Deployment');
    const pod = dep.spec.template.spec;
    const c = container(r);
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy).toEqual({ type: 'Recreate' }); // memory store: never two stores side by side
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.args).toEqual(['--config', '/etc/fapi-gateway/config/config.yaml']);
    expect(c.ports).toEqual([
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'admin', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    // Directory mounts (hot reload), never a subPath.
    expect(c.volumeMounts.every((m: Record<string, unknown>) => m.subPath === undefined && m.readOnly === true)).toBe(true);
    expect(pod.volumes.find((v: Record<string, any>) => v.name === 'tls').secret).toEqual({ secretName: 'fapi-gateway-tls', defaultMode: 0o440 });
    const api = r.find('Service', 'fapi-gateway');
    expect(api.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    expect(r.find('Service', '-admin').spec.type).toBe('ClusterIP');
    expect(r.find('Service', '-admin').spec.ports).toEqual([{ name: 'admin', port: 9090, targetPort: 'admin', protocol: 'TCP' }]);
    expect(dep.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('redis values: REDIS_URL from the existing Secret (never in the ConfigMap), RollingUpdate with maxSurge, a PDB', () => {
    const r = render(redisValues);
    expect(container(r).env).toContainEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'fapi-gateway-redis', key: 'redis-url' } } });
    expect(r.find('Deployment').spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(r.find('PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    expect(r.configYaml()).not.toContain('rediss://');
    expect(parse(r.configYaml()).replay).toEqual(redisValues.config.replay);
  });

  it('the schema refuses several replicas or autoscaling with the memory replay store (DPOP-21)', () => {
    expect(() => render({ replicaCount: 2 })).toThrow(/schema/);
    expect(() => render({ autoscaling: { enabled: true } })).toThrow(/schema/);
    expect(() => render({ config: { server: { workers: 'auto' } } })).toThrow(/schema/);
  });

  // README (Deploy, Kubernetes): "Other files the config names (an issuer's CA, ...) come in through
  // extraVolumes and extraVolumeMounts"; MTLS-4: an MTLS ecosystem publishes its own CA trust list
  // (the directory's TPP issuing CAs), which is not the CA that issued the bank's server certificate.
  // The bug was: values.schema.json:179 applies mountedTlsFile (^(/etc/fapi-gateway/|../)tls/[^/]+$, line 232) to
  // server.tls.client_ca_file, so the TPP trust anchors can only come from the server's TLS Secret. With
  // cert-manager that Secret is owned by cert-manager (its ca.crt is the server certificate's issuer, which
  // values.yaml:144 suggests as client_ca_file): a separately mounted CA bundle is refused at helm
  // install, and the only accepted CA is the wrong trust anchor (TPP certificates refused, MTLS-4).
  it('MTLS-4: the TPP client CA bundle can come from its own Secret (extraVolumes), not only from the server TLS Secret', () => {
    const values = merge(defaultValues(), {
      config: { server: { tls: { client_ca_file: '/etc/fapi-gateway/tpp-ca/ca.crt' } } },
      extraVolumes: [{ name: 'tpp-ca', secret: { secretName: 'ob-directory-cas' } }],
      extraVolumeMounts: [{ name: 'tpp-ca', mountPath: '/etc/fapi-gateway/tpp-ca', readOnly: true }],
    }) as Values;
    expect(schemaErrors(values).map((e) => `${e.instancePath} ${e.message}`)).toEqual([]);
  });

  it('MTLS-4: clientCa.secretName mounts the TPP CA bundle at /etc/fapi-gateway/client-ca', () => {
    const r = render({ clientCa: { secretName: 'ob-directory-cas' }, config: { server: { tls: { client_ca_file: '/etc/fapi-gateway/client-ca/ca.crt' } } } });
    const pod = r.find('Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'client-ca', secret: { secretName: 'ob-directory-cas' } });
    expect(container(r).volumeMounts).toContainEqual({ name: 'client-ca', mountPath: '/etc/fapi-gateway/client-ca', readOnly: true });
    expect(parse(r.configYaml()).server.tls.client_ca_file).toBe('/etc/fapi-gateway/client-ca/ca.crt');
    // Not set: no such volume.
    expect(render().find('Deployment').spec.template.spec.volumes.map((v: { name: string }) => v.name)).not.toContain('client-ca');
  });

  // README (Operating it, Graceful shutdown) and values.yaml:84: "keep terminationGracePeriodSeconds >
  // preStopSleepSeconds + config.server.drain_timeout_ms"; the chart checks the one comparison it can
  // (hpa.yaml fails the render on maxReplicas < minReplicas) but not this one.
  // The bug was: deployment.yaml:51 writes terminationGracePeriodSeconds as given: with drain_timeout_ms raised
  // for long requests (as the README invites) and the default grace of 30 s, the kubelet SIGKILLs the
  // gateway in the middle of its drain (5 s preStop + 60 s drain > 30 s) and in-flight payments are cut.
  it('a drain longer than the grace period is refused at render; a grace period that covers it renders', () => {
    expect(() => render({ config: { server: { drain_timeout_ms: 60_000 } } })).toThrow(/terminationGracePeriodSeconds 30 is too short.*needs 66/);
    // preStop 5 + drain 60 + 1 = 66 fits; with workers, the primary's 5 s margin too.
    expect(render({ terminationGracePeriodSeconds: 66, config: { server: { drain_timeout_ms: 60_000 } } }).find('Deployment').spec.template.spec.terminationGracePeriodSeconds).toBe(66);
    expect(() => render({ ...redisValues, terminationGracePeriodSeconds: 66, config: { ...redisValues.config, server: { drain_timeout_ms: 60_000, workers: 2 } } })).toThrow(/needs 71/);
    // The defaults: 5 + 10 + 1 <= 30.
    expect(render().find('Deployment').spec.template.spec.terminationGracePeriodSeconds).toBe(30);
  });

  // Values that render an invalid manifest: Kubernetes Secret keys and names may be all digits
  // ([-._a-zA-Z0-9]+), a key may be "true". BUG: deployment.yaml:75-76 and 82-83 write
  // `name: {{ .Values.redis.existingSecret }}` / `key: {{ .Values.redis.urlKey }}` unquoted, so YAML makes
  // them an integer or a boolean and the API server refuses the Deployment (secretKeyRef.key: string).
  it('secretKeyRef name and key stay strings whatever the Secret key is called', () => {
    const r = render({ ...redisValues, redis: { existingSecret: '2024', urlKey: 'true' } });
    const ref = container(r).env.find((e: Record<string, any>) => e.name === 'REDIS_URL').valueFrom.secretKeyRef;
    expect(ref).toEqual({ name: '2024', key: 'true' });
  });

  // Helm allows 53-character release names; Service names are DNS-1035 labels (at most 63).
  // The bug was: _helpers.tpl:7-17 truncates the fullname to 63, then service.yaml:35 appends "-admin" (and the
  // ServiceMonitor selects it): with a long release name the admin Service name is over 63 and the
  // whole install fails.
  it('every resource name is a valid DNS label (<= 63) for a 53-character release name', () => {
    const release = 'open-banking-accounts-api-gateway-production-euw1-bl'; // 52
    expect(release.length).toBeLessThanOrEqual(53);
    const r = render({}, release);
    for (const doc of r.docs) expect(String(doc.metadata.name).length, `${doc.kind} ${doc.metadata.name}`).toBeLessThanOrEqual(63);
  });

  // README (Operating it / Config reference, admin): "Keep it off the API's network"; chart README (Edge
  // mode): "restrict that Service to the gateway with a NetworkPolicy so that nobody bypasses it".
  // The bug was (a gap): the chart renders no NetworkPolicy at all (templates/ has none): the admin port (9090,
  // /metrics with route and client labels) answers every pod of the cluster, and nothing keeps other
  // pods off the legacy API. A bank platform expects the chart to offer one (networkPolicy.enabled).
  it('the chart can render a NetworkPolicy that admits the API port to clients and the admin port to the monitoring namespace only', () => {
    expect(render().docs.find((x) => x.kind === 'NetworkPolicy'), 'off by default').toBeUndefined();
    const monitoring = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    const np = render({ networkPolicy: { enabled: true, adminFrom: [monitoring] } }).find('NetworkPolicy');
    expect(np.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'fapi-gateway', 'app.kubernetes.io/instance': 'gw' });
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { ports: [{ port: 'https', protocol: 'TCP' }] },
      { ports: [{ port: 'admin', protocol: 'TCP' }], from: [monitoring] },
    ]);
    // No adminFrom: no rule for the admin port at all (a rule without `from` would admit everyone).
    const closed = render({ networkPolicy: { enabled: true, apiFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }] } }).find('NetworkPolicy');
    expect(closed.spec.ingress).toEqual([{ ports: [{ port: 'https', protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }]);
  });

  // Newcomer path: README Deploy builds `docker build -t fapi-gateway .` (tag latest) and installs the
  // chart, whose default image is fapi-gateway:<appVersion> (_helpers.tpl:41). On a local cluster (kind,
  // minikube: image loaded from the local build) the pod cannot start (ErrImagePull / not present).
  it('the image the README builds is the image the chart runs by default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const built = /docker build -t (\S+) \./.exec(readme)?.[1] ?? '';
    const ref = built.includes(':') ? built : `${built}:latest`;
    expect(container(render()).image).toBe(ref);
  });

  it('sidecar mode renders only the ConfigMap, and NOTES give the checksum to put on the pod', () => {
    const r = render({ mode: 'sidecar', tls: null, config: { replay: { store: 'redis', redis: { mode: 'standalone', url_env: 'REDIS_URL' } } } });
    expect(r.docs.map((x) => x.kind)).toEqual(['ConfigMap']);
    expect(r.notes).toMatch(/checksum\/fapi-gateway-config: [0-9a-f]{64}/);
  });
});

d('helm chart, rendered for real: the gateway accepts what the chart writes', () => {
  let cliJs: string;
  let dir: string;
  beforeAll(() => {
    cliJs = buildCli('dist-chart-render');
    dir = mkdtempSync(join(tmpdir(), 'fapi-chart-'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const check = (configYaml: string, env: Record<string, string> = {}): { status: number | null; out: string } => {
    const cfgDir = join(dir, `c${Math.random().toString(36).slice(2)}`, 'config');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'config.yaml'), configYaml);
    const r = spawnSyncNode([cliJs, 'check', '--config', join(cfgDir, 'config.yaml')], env);
    return r;
  };

  for (const [name, values, env] of [
    ['default values', {}, {}],
    ['redis values', redisValues, { REDIS_URL: 'redis://check.invalid:6379' }],
    ['IPv6 listeners', { config: { server: { listen: '[::]:8443' }, admin: { listen: '[::]:9090' } } }, {}],
  ] as [string, Values, Record<string, string>][]) {
    it(`fapi-gateway check passes the ConfigMap rendered from ${name}`, () => {
      const r = render(values);
      const res = check(r.configYaml(), env);
      expect(res.out).toContain('is valid');
      expect(res.status).toBe(0);
      // The container ports come from the same listen addresses the gateway binds.
      const cfg = parse(r.configYaml());
      expect(container(r).ports.map((p: Record<string, number>) => String(p.containerPort))).toEqual([cfg.server.listen.split(':').pop(), cfg.admin.listen.split(':').pop()]);
    });
  }
});

// Liveness must not depend on Redis (a shared Redis outage would restart every replica at once); a
// new pod that cannot reach Redis stays up, unready, and drains on SIGTERM well within the grace period.
d('a gateway started from the rendered ConfigMap, as the pod runs it', () => {
  let cliJs: string;
  let dir: string;
  let files: PkiFiles;
  beforeAll(async () => {
    cliJs = buildCli('dist-chart-render');
    dir = mkdtempSync(join(tmpdir(), 'fapi-chart-pod-'));
    files = await writePki(undefined, await testPki());
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Redis unreachable at start: /livez 200, /readyz 503, no exit; SIGTERM exits 0 within the grace period', async () => {
    const deadPort = await freePort();
    const r = render(redisValues);
    const cfg = parse(r.configYaml());
    cfg.server.listen = '127.0.0.1:0';
    cfg.admin.listen = `127.0.0.1:${await freePort()}`;
    cfg.server.tls = { ...cfg.server.tls, cert_file: files.serverCertFile, key_file: files.serverKeyFile };
    cfg.replay.redis.connect_timeout_ms = 200;
    mkdirSync(join(dir, 'config'), { recursive: true });
    writeFileSync(join(dir, 'config/config.yaml'), stringify(cfg));
    const env = Object.fromEntries(container(r).env.map((e: Record<string, any>) => [e.name, e.value ?? `redis://127.0.0.1:${deadPort}/0`]));
    const child = spawn(process.execPath, [cliJs, '--config', join(dir, 'config/config.yaml')], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = jsonLines(child.stdout!);
    let stderr = '';
    child.stderr!.on('data', (x) => (stderr += x));
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    try {
      await eventually(async () => lines.some((l) => l.msg === 'fapi-gateway listening'), 10_000);
      const admin = `http://${cfg.admin.listen}`;
      for (let i = 0; i < 3; i++) {
        expect((await adminGet(`${admin}/livez`)).status).toBe(200);
        expect((await adminGet(`${admin}/readyz`)).status).toBe(503);
        await new Promise((ok) => setTimeout(ok, 300));
      }
      expect(child.exitCode).toBeNull();
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const grace = r.find('Deployment').spec.template.spec.terminationGracePeriodSeconds as number;
      expect(Date.now() - t0).toBeLessThan((grace - 5) * 1000);
      expect(stderr).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});

function spawnSyncNode(args: string[], env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}
