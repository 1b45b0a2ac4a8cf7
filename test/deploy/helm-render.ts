// A real render of helm/fapi-gateway (no helm binary is installable here): values merged as Helm merges them (a user's
// file over values.yaml, null removes a key), checked against values.schema.json (ajv draft-07, as Helm
// does before rendering), then the templates executed by Go's text/template (helm-render/main.go, the
// engine Helm uses, with the sprig functions the chart calls). Needs a Go toolchain (Debian's golang-go,
// 1.19 is enough; no modules; .ci/run installs it): without one the tests that render are skipped, except
// under CI, where they fail.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';

export const chartDir = new URL('../../helm/fapi-gateway/', import.meta.url).pathname;
const srcDir = new URL('./helm-render/', import.meta.url).pathname;
const goCache = join(tmpdir(), 'fapi-helm-render-gocache');
// One binary per version of the renderer's source, built once and reused by later runs.
const bin = join(tmpdir(), `fapi-helm-render-${createHash('sha256').update(readFileSync(join(srcDir, 'main.go'))).digest('hex').slice(0, 16)}`);

function goBinary(): string | undefined {
  for (const g of ['go', '/usr/lib/go-1.19/bin/go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (spawnSync(g, ['version'], { encoding: 'utf8' }).status === 0) return g;
  }
  return undefined;
}

let built: boolean | undefined;
export function rendererAvailable(): boolean {
  if (built !== undefined) return built;
  const go = goBinary();
  if (go === undefined) {
    if (process.env.CI) throw new Error('no Go toolchain (golang-go) to render the chart with: .ci/run installs it');
    return (built = false);
  }
  if (existsSync(bin)) return (built = true);
  mkdirSync(goCache, { recursive: true });
  const tmp = `${bin}.${process.pid}`;
  const r = spawnSync(go, ['build', '-o', tmp, '.'], { cwd: srcDir, encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: goCache }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`go build: ${r.stderr}`);
  renameSync(tmp, bin);
  return (built = true);
}

export type Values = Record<string, any>;
export const defaultValues = (): Values => parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;

/** Helm's coalesce: maps merge, anything else replaces, null deletes. */
export function merge(base: unknown, over: unknown): unknown {
  if (over === null) return undefined;
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const m = merge(out[k], v);
    if (m === undefined) delete out[k];
    else out[k] = m;
  }
  return out;
}

const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const validate = new Ajv({ allErrors: true, strictTypes: false }).compile(schema);
export function schemaErrors(values: Values): ErrorObject[] {
  return validate(values) ? [] : [...(validate.errors ?? [])];
}

export interface Rendered {
  readonly values: Values;
  readonly files: Record<string, string>;
  /** Every manifest (NOTES.txt left out), parsed. */
  readonly docs: Record<string, any>[];
  readonly notes: string;
  find(kind: string, nameSuffix?: string): any;
  configYaml(): string;
}

/** `helm template gw ./helm/fapi-gateway -f <overrides>`; throws on a schema error or a template failure. */
export function render(overrides: Values = {}, release = 'gw'): Rendered {
  const values = merge(defaultValues(), overrides) as Values;
  const errs = schemaErrors(values);
  if (errs.length > 0) throw new Error(`values don't meet the specifications of the schema: ${JSON.stringify(errs.map((e) => [e.instancePath, e.message]))}`);
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>;
  const input = {
    chartDir,
    values,
    release: { Name: release, Namespace: 'bank', Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const out = JSON.parse(execFileSync(bin, [], { input: JSON.stringify(input), encoding: 'utf8' })) as { files?: Record<string, string>; error?: string };
  if (out.error !== undefined) throw new Error(`render: ${out.error}`);
  const files = out.files ?? {};
  const docs: Record<string, any>[] = [];
  for (const [file, text] of Object.entries(files)) {
    if (file.endsWith('NOTES.txt')) continue;
    for (const d of parseAllDocuments(text, { uniqueKeys: true })) {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}\n${text}`);
      const obj = d.toJS() as Record<string, any> | null;
      if (obj !== null) docs.push(obj);
    }
  }
  return {
    values,
    files,
    docs,
    notes: files['templates/NOTES.txt'] ?? '',
    find(kind: string, nameSuffix = '') {
      return docs.find((d) => d.kind === kind && String(d.metadata?.name).endsWith(nameSuffix));
    },
    configYaml() {
      const cm = docs.find((d) => d.kind === 'ConfigMap');
      return cm?.data?.['config.yaml'] as string;
    },
  };
}
