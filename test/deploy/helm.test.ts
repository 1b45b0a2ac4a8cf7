// The Helm chart, checked without helm: Chart.yaml and values.yaml parse, every template survives a
// stand-in render (below), values.schema.json refuses impossible values (ajv, draft-07, as Helm does), and
// the gateway config in values.yaml (and in the chart README's examples) passes the real config loader.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { compileRouteTable } from '../../src/route/table.js';

const chartDir = new URL('../../helm/fapi-gateway/', import.meta.url).pathname;
const templatesDir = join(chartDir, 'templates');
const read = (rel: string): string => readFileSync(join(chartDir, rel), 'utf8');

type Values = Record<string, unknown>;
const defaultValues = (): Values => parse(read('values.yaml')) as Values;
const schema = JSON.parse(read('values.schema.json')) as Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------
// A stand-in for `helm template`, documented so that its limits are clear.
//
// 1. Scan: split a template into text and {{ ... }} actions, honouring quoted strings and /* comments */
//    inside actions (an unterminated action or string is an error).
// 2. Structure: if/with/range/define/block open a block, `else` (and `else if` / `else with`) may only
//    appear inside if/with/range, `end` closes one; nothing may stay open or close twice. Parentheses
//    inside every action must balance. Every function name must be a Helm/sprig function (catches typos
//    such as `nident`), every `include "x"` must name a template defined in _helpers.tpl, and every
//    `.Values.a.b` path must exist in values.schema.json (which refuses unknown keys).
// 3. Render with every branch kept: control actions, comments and variable assignments output nothing
//    (as in Go); `{{- ` / ` -}}` trim whitespace exactly as Go does; a value action outputs a placeholder:
//      - `... | nindent N`: a newline, N spaces, then a block placeholder;
//      - `... | indent N`: N spaces, then a block placeholder;
//      - anything else: the scalar `__tpl__`.
//    A block placeholder is `- __tpl_K__` when the previous line at that indentation is a sequence item,
//    else `__tpl_K__: __tpl__` (K is unique, so two blocks never make a duplicate key). A block that
//    follows `key:` must be indented deeper than that key (else the key would be null: a wrong nindent).
// 4. The result must parse as YAML, document by document, with unique keys, and every document must be
//    a Kubernetes object (apiVersion, kind, metadata.name).
// Keeping both branches of an `if` means a template may not put two different YAML shapes (a list in one
// branch, a map in the other) at the same place; the chart's templates are written accordingly.
// ---------------------------------------------------------------------------------------------------

interface Action {
  readonly body: string;
  readonly trimLeft: boolean;
  readonly trimRight: boolean;
  readonly line: number;
}
type Segment = { readonly text: string } | { readonly action: Action };

function scan(src: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ text: src.slice(i) });
      break;
    }
    out.push({ text: src.slice(i, open) });
    const line = src.slice(0, open).split('\n').length;
    let j = open + 2;
    let close = -1;
    while (j < src.length) {
      const c = src[j];
      if (c === '"') {
        j++;
        while (j < src.length && src[j] !== '"') {
          if (src[j] === '\n') throw new Error(`line ${line}: newline in a string`);
          j += src[j] === '\\' ? 2 : 1;
        }
        if (j >= src.length) throw new Error(`line ${line}: unterminated string`);
        j++;
      } else if (c === '`') {
        const end = src.indexOf('`', j + 1);
        if (end < 0) throw new Error(`line ${line}: unterminated raw string`);
        j = end + 1;
      } else if (src.startsWith('/*', j)) {
        const end = src.indexOf('*/', j + 2);
        if (end < 0) throw new Error(`line ${line}: unterminated comment`);
        j = end + 2;
      } else if (src.startsWith('}}', j)) {
        close = j;
        break;
      } else if (src.startsWith('{{', j)) {
        throw new Error(`line ${line}: "{{" inside an action`);
      } else {
        j++;
      }
    }
    if (close < 0) throw new Error(`line ${line}: unterminated action`);
    let body = src.slice(open + 2, close);
    const trimLeft = /^-\s/.test(body);
    const trimRight = /\s-$/.test(body);
    if (trimLeft) body = body.slice(1);
    if (trimRight) body = body.slice(0, -1);
    out.push({ action: { body: body.trim(), trimLeft, trimRight, line } });
    i = close + 2;
  }
  return out;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'block', 'template', 'break', 'continue', 'nil', 'true', 'false']);
// Go template builtins, Helm's own functions, and the sprig functions a chart commonly uses.
const FUNCTIONS = new Set(
  (
    'and or not eq ne lt le gt ge len index slice print printf println html js urlquery call ' +
    'include tpl required fail toYaml fromYaml fromYamlArray toJson fromJson toToml lookup ' +
    'default empty coalesce ternary quote squote trim trimAll trimPrefix trimSuffix trunc lower upper title ' +
    'replace contains hasPrefix hasSuffix indent nindent nospace repeat substr cat split splitList join ' +
    'first last rest initial append prepend concat uniq has without compact list dict get set unset hasKey ' +
    'keys pick omit merge mergeOverwrite dig deepCopy toString toStrings int int64 float64 atoi add sub mul ' +
    'div mod max min b64enc b64dec sha1sum sha256sum adler32sum regexMatch regexReplaceAll kindIs typeOf ' +
    'semverCompare until untilStep toDecimal'
  ).split(' '),
);

interface Checked {
  readonly rendered: string;
  readonly problems: string[];
  readonly defines: string[];
  readonly includes: string[];
  readonly valuesPaths: string[];
}

/** Steps 1-3 for one template text. Problems are returned, never thrown, so tests can show them all. */
function check(src: string): Checked {
  const problems: string[] = [];
  let segments: Segment[];
  try {
    segments = scan(src);
  } catch (e) {
    return { rendered: '', problems: [(e as Error).message], defines: [], includes: [], valuesPaths: [] };
  }
  const stack: { kind: string; line: number }[] = [];
  const defines: string[] = [];
  const includes: string[] = [];
  const valuesPaths: string[] = [];
  let out = '';
  let placeholders = 0;

  const blockPlaceholder = (indent: number, line: number): string => {
    const lines = out.split('\n');
    // A block right after `key:` belongs under that key: indented less, the key would be left null.
    const last = lines.filter((l) => l.trim() !== '').pop();
    if (last !== undefined && /:\s*(#.*)?$/.test(last) && last.length - last.trimStart().length >= indent) {
      problems.push(`line ${line}: block at indent ${indent} is not nested under "${last.trim()}"`);
    }
    for (let k = lines.length - 1; k >= 0; k--) {
      const l = lines[k] as string;
      if (l.trim() === '') continue;
      const ind = l.length - l.trimStart().length;
      if (ind > indent) continue;
      return ind === indent && l.trimStart().startsWith('- ') ? `- __tpl_${placeholders++}__` : `__tpl_${placeholders++}__: __tpl__`;
    }
    return `__tpl_${placeholders++}__: __tpl__`;
  };

  segments.forEach((seg, n) => {
    if ('text' in seg) {
      let text = seg.text;
      const prev = segments[n - 1];
      const next = segments[n + 1];
      if (prev !== undefined && 'action' in prev && prev.action.trimRight) text = text.replace(/^\s+/, '');
      if (next !== undefined && 'action' in next && next.action.trimLeft) text = text.replace(/\s+$/, '');
      if (!stack.some((b) => b.kind === 'define')) out += text;
      return;
    }
    const { body, line } = seg.action;
    if (body.startsWith('/*')) {
      if (!body.endsWith('*/')) problems.push(`line ${line}: a comment must end the action`);
      return;
    }
    const code = body.replace(/"(?:[^"\\]|\\.)*"|`[^`]*`/g, '""');
    let depth = 0;
    for (const ch of code) {
      depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
      if (depth < 0) break;
    }
    if (depth !== 0) problems.push(`line ${line}: unbalanced parentheses in {{ ${body} }}`);
    for (const m of body.matchAll(/\binclude\s+"([^"]+)"/g)) includes.push(m[1] as string);
    for (const m of body.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) valuesPaths.push((m[1] as string).slice(1));
    for (const tok of code.split(/[\s|()]+/)) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(tok) && !KEYWORDS.has(tok) && !FUNCTIONS.has(tok)) {
        problems.push(`line ${line}: unknown function ${tok}`);
      }
    }
    const word = body.split(/\s+/, 1)[0] as string;
    const inDefine = stack.some((b) => b.kind === 'define');
    if (['if', 'with', 'range', 'define', 'block'].includes(word)) {
      stack.push({ kind: word, line });
      if (word === 'define') defines.push(/^define\s+"([^"]+)"/.exec(body)?.[1] ?? '');
      return;
    }
    if (word === 'else') {
      const top = stack[stack.length - 1];
      if (top === undefined || !['if', 'with', 'range'].includes(top.kind)) problems.push(`line ${line}: else outside if/with/range`);
      return;
    }
    if (word === 'end') {
      if (stack.pop() === undefined) problems.push(`line ${line}: end without an open block`);
      return;
    }
    if (word === 'break' || word === 'continue' || word === 'fail') return; // fail stops the render, outputs nothing
    if (/^\$[A-Za-z0-9_]*\s*:?=/.test(body)) return; // assignment: no output
    if (inDefine) return; // a define's body is output where it is included, not here
    const nindent = /\|\s*nindent\s+(\d+)\s*$/.exec(body);
    const indent = /\|\s*indent\s+(\d+)\s*$/.exec(body);
    if (nindent) {
      const k = Number(nindent[1]);
      out += `\n${' '.repeat(k)}${blockPlaceholder(k, line)}`;
    } else if (indent) {
      const k = Number(indent[1]);
      out += `${' '.repeat(k)}${blockPlaceholder(k, line)}`;
    } else {
      out += '__tpl__';
    }
  });
  for (const open of stack) problems.push(`line ${open.line}: ${open.kind} is never closed with end`);
  return { rendered: out, problems, defines, includes, valuesPaths };
}

/** Step 4: the stand-in render must be Kubernetes YAML. */
function yamlProblems(rendered: string): { problems: string[]; kinds: string[] } {
  const problems: string[] = [];
  const kinds: string[] = [];
  for (const doc of parseAllDocuments(rendered, { uniqueKeys: true })) {
    for (const e of doc.errors) problems.push(e.message.split('\n')[0] as string);
    if (doc.errors.length > 0) continue;
    const obj = doc.toJS() as Record<string, unknown> | null;
    if (obj === null) continue; // an empty document (e.g. a comment only)
    const meta = obj.metadata as Record<string, unknown> | undefined;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || meta?.name === undefined) {
      problems.push(`not a Kubernetes object: ${JSON.stringify(obj).slice(0, 80)}`);
      continue;
    }
    kinds.push(obj.kind);
  }
  return { problems, kinds };
}

/** Whether `.Values.<path>` is a key values.schema.json allows (schema objects with additionalProperties: false are closed). */
function inSchema(path: string): boolean {
  let node: Record<string, unknown> | undefined = schema;
  for (const key of path.split('.')) {
    const props = node?.properties as Record<string, Record<string, unknown>> | undefined;
    if (props?.[key] !== undefined) {
      node = props[key];
      continue;
    }
    return node?.additionalProperties !== false && node?.type !== 'string' && node?.type !== 'integer';
  }
  return true;
}

const templateFiles = readdirSync(templatesDir).sort();
const helpers = check(readFileSync(join(templatesDir, '_helpers.tpl'), 'utf8'));

describe('helm chart: files parse', () => {
  it('Chart.yaml is apiVersion v2, fapi-gateway 0.1.0', () => {
    const chart = parse(read('Chart.yaml')) as Record<string, unknown>;
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'fapi-gateway', version: '0.1.0', appVersion: '0.1.0' });
  });

  it('values.yaml parses and defaults to a hardened single edge gateway', () => {
    const v = defaultValues();
    expect(v.mode).toBe('edge');
    expect(v.replicaCount).toBe(1);
    expect(v.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(v.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('has every template the chart promises', () => {
    expect(templateFiles).toEqual(
      expect.arrayContaining(['_helpers.tpl', 'configmap.yaml', 'deployment.yaml', 'service.yaml', 'hpa.yaml', 'pdb.yaml', 'servicemonitor.yaml', 'NOTES.txt']),
    );
  });
});

describe('helm chart: templates (stand-in render, see the comment above)', () => {
  it('_helpers.tpl is well-formed and defines the names templates include', () => {
    expect(helpers.problems).toEqual([]);
    expect(helpers.rendered.trim()).toBe(''); // only defines and comments
    expect(helpers.defines).toEqual(expect.arrayContaining(['fapi-gateway.fullname', 'fapi-gateway.labels', 'fapi-gateway.selectorLabels']));
  });

  const expectedKinds: Record<string, string[]> = {
    'configmap.yaml': ['ConfigMap'],
    'deployment.yaml': ['Deployment'],
    'service.yaml': ['Service', 'Service'],
    'hpa.yaml': ['HorizontalPodAutoscaler'],
    'pdb.yaml': ['PodDisruptionBudget'],
    'servicemonitor.yaml': ['ServiceMonitor'],
    'networkpolicy.yaml': ['NetworkPolicy'],
  };
  for (const file of templateFiles.filter((f) => f !== '_helpers.tpl')) {
    it(`${file}: balanced actions and blocks, known functions, includes and values keys`, () => {
      const c = check(readFileSync(join(templatesDir, file), 'utf8'));
      expect(c.problems).toEqual([]);
      expect(c.includes.filter((n) => !helpers.defines.includes(n))).toEqual([]);
      expect([...helpers.valuesPaths, ...c.valuesPaths].filter((p) => !inSchema(p))).toEqual([]);
      if (file.endsWith('.yaml')) {
        const y = yamlProblems(c.rendered);
        expect(y.problems, c.rendered).toEqual([]);
        expect(y.kinds).toEqual(expectedKinds[file]);
      }
    });
  }

  it('the checker catches broken templates', () => {
    const problemsOf = (src: string): string[] => {
      const c = check(src);
      return [...c.problems, ...(c.problems.length === 0 ? yamlProblems(c.rendered).problems : [])];
    };
    const good =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    {{- include "x" . | nindent 4 }}\n  annotations: {}\n';
    expect(problemsOf(good)).toEqual([]);
    expect(problemsOf(`{{- if .Values.a }}\n${good}`)).toEqual(['line 1: if is never closed with end']);
    expect(problemsOf(`${good}{{- end }}\n`)).toEqual(['line 8: end without an open block']);
    expect(problemsOf(`${good}{{ .Values.a `)).toEqual(['line 8: unterminated action']);
    expect(problemsOf(good.replace('nindent', 'nident'))).toEqual(['line 6: unknown function nident']);
    expect(problemsOf(good.replace('(', '').replace('| nindent 4', '| nindent (4'))).toEqual(['line 6: unbalanced parentheses in {{ include "x" . | nindent (4 }}']);
    expect(problemsOf(good.replace('nindent 4', 'nindent 1')).length).toBeGreaterThan(0); // wrong indentation
    expect(problemsOf(good.replace('nindent 4', 'nindent 2'))).toEqual(['line 6: block at indent 2 is not nested under "labels:"']);
    expect(problemsOf(good.replace('labels:\n    {{- include "x" . | nindent 4 }}', 'labels: {{ include "x" . | indent 4 }}')).length).toBeGreaterThan(0); // indent for nindent
    expect(problemsOf(good.replace('name: {{', 'name {{')).length).toBeGreaterThan(0); // missing colon
    expect(problemsOf(good.replace('kind: ConfigMap\n', '')).length).toBeGreaterThan(0); // not a k8s object
    expect(problemsOf('{{- else }}\n')).toEqual(['line 1: else outside if/with/range']);
    expect(inSchema('service.port')).toBe(true);
    expect(inSchema('servce.port')).toBe(false);
    expect(inSchema('config.server.listen')).toBe(true);
  });

  it('deployment.yaml wires what the values promise', () => {
    const t = readFileSync(join(templatesDir, 'deployment.yaml'), 'utf8');
    expect(t).toMatch(/checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/);
    expect(t).toMatch(/secretKeyRef:\s+name: \{\{ \.Values\.redis\.existingSecret \| quote \}\}/);
    expect(t).toMatch(/path: \/livez\s+port: admin/);
    expect(t).toMatch(/path: \/readyz\s+port: admin/);
    expect(t).toContain('mountPath: /etc/fapi-gateway/tls');
    // The config as a directory (a subPath mount is never updated: no hot reload), and the args find it.
    expect(t).toMatch(/- name: config\s+mountPath: \/etc\/fapi-gateway\/config\s+readOnly: true/);
    expect(t).not.toMatch(/^\s*subPath:/m);
    expect(t).toContain('args: ["--config", "/etc/fapi-gateway/config/config.yaml"]');
    expect(t).toContain('secretName: {{ required');
    expect(t).toContain('terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}');
  });

  it('sidecar mode renders only the ConfigMap: every other resource is behind mode edge', () => {
    for (const file of ['deployment.yaml', 'service.yaml', 'hpa.yaml', 'pdb.yaml', 'servicemonitor.yaml']) {
      const first = readFileSync(join(templatesDir, file), 'utf8').split('\n', 1)[0];
      expect(first, file).toMatch(/^\{\{- if (and )?\(?eq \.Values\.mode "edge"\)?/);
    }
    expect(read('templates/configmap.yaml')).not.toContain('.Values.mode');
  });
});

describe('helm chart: values.schema.json (ajv, draft-07)', () => {
  const ajv = new Ajv({ allErrors: true, strictTypes: false }) // strictSchema: unknown keywords are errors;
  const validate = ajv.compile(schema);
  const errorsOf = (v: Values): ErrorObject[] => (validate(v) ? [] : (validate.errors ?? []));
  const withValues = (patch: (v: Values & Record<string, any>) => void): Values => {
    const v = defaultValues() as Values & Record<string, any>;
    patch(v);
    return v;
  };
  const useRedis = (v: Record<string, any>): void => {
    v.config.replay = { store: 'redis', redis: { mode: 'standalone', url_env: 'REDIS_URL' } };
    v.redis.existingSecret = 'gw-redis';
  };

  it('accepts the default values.yaml', () => {
    expect(errorsOf(defaultValues())).toEqual([]);
  });

  it('refuses replicaCount 3 with the memory replay store, accepts it with redis', () => {
    expect(errorsOf(withValues((v) => (v.replicaCount = 3)))).toContainEqual(
      expect.objectContaining({ instancePath: '/replicaCount', keyword: 'maximum' }),
    );
    // replay.store unset is the gateway's default, memory: refused too.
    expect(errorsOf(withValues((v) => ((v.replicaCount = 3), delete v.config.replay)))).not.toEqual([]);
    expect(errorsOf(withValues((v) => ((v.replicaCount = 3), useRedis(v))))).toEqual([]);
  });

  it('refuses autoscaling with the memory replay store, accepts it with redis', () => {
    expect(errorsOf(withValues((v) => (v.autoscaling.enabled = true)))).toContainEqual(
      expect.objectContaining({ instancePath: '/autoscaling/enabled', keyword: 'const' }),
    );
    expect(errorsOf(withValues((v) => ((v.autoscaling.enabled = true), useRedis(v))))).toEqual([]);
  });

  it('refuses server.workers other than 1 with the memory replay store, accepts them with redis', () => {
    for (const workers of [2, 'auto']) {
      expect(errorsOf(withValues((v) => (v.config.server.workers = workers)))).toContainEqual(
        expect.objectContaining({ instancePath: '/config/server/workers', keyword: 'const' }),
      );
      expect(errorsOf(withValues((v) => ((v.config.server.workers = workers), useRedis(v))))).toEqual([]);
    }
    expect(errorsOf(withValues((v) => ((v.config.server.workers = 65), useRedis(v))))).not.toEqual([]);
    expect(errorsOf(withValues((v) => ((v.config.server.workers = 0), useRedis(v))))).not.toEqual([]);
  });

  it('refuses redis without a way to get its URL in edge mode', () => {
    expect(errorsOf(withValues((v) => (useRedis(v), (v.redis.existingSecret = ''))))).not.toEqual([]);
    expect(
      errorsOf(withValues((v) => (useRedis(v), (v.redis.existingSecret = ''), (v.extraEnv = [{ name: 'REDIS_URL', value: 'redis://r:6379' }])))),
    ).toEqual([]);
  });

  it('refuses mode other than edge | sidecar, and replicaCount < 1', () => {
    expect(errorsOf(withValues((v) => (v.mode = 'other')))).toContainEqual(expect.objectContaining({ instancePath: '/mode', keyword: 'enum' }));
    expect(errorsOf(withValues((v) => (v.replicaCount = 0)))).toContainEqual(expect.objectContaining({ instancePath: '/replicaCount', keyword: 'minimum' }));
    expect(errorsOf(withValues((v) => (v.replicaCount = 1.5)))).toContainEqual(expect.objectContaining({ instancePath: '/replicaCount', keyword: 'type' }));
  });

  it('refuses edge mode without tls.secretName, or with TLS files outside the mounted Secret', () => {
    expect(errorsOf(withValues((v) => delete v.tls.secretName))).toContainEqual(expect.objectContaining({ keyword: 'required' }));
    expect(errorsOf(withValues((v) => (v.tls.secretName = '')))).toContainEqual(expect.objectContaining({ instancePath: '/tls/secretName' }));
    expect(errorsOf(withValues((v) => delete v.tls))).not.toEqual([]);
    expect(errorsOf(withValues((v) => (v.config.server.tls.cert_file = '../certs/server.crt')))).toContainEqual(
      expect.objectContaining({ instancePath: '/config/server/tls/cert_file', keyword: 'pattern' }),
    );
    // The config is /etc/fapi-gateway/config/config.yaml (a directory mount, for hot reload): relative
    // paths resolve from there, so `tls/...` would miss the Secret and the pod would not start.
    expect(errorsOf(withValues((v) => (v.config.server.tls.cert_file = 'tls/tls.crt')))).toContainEqual(
      expect.objectContaining({ instancePath: '/config/server/tls/cert_file', keyword: 'pattern' }),
    );
    expect(errorsOf(withValues((v) => (v.config.server.tls.cert_file = '../tls/tls.crt')))).toEqual([]);
    // sidecar mode: the pod you write mounts the certificate, the chart does not.
    expect(errorsOf(withValues((v) => ((v.mode = 'sidecar'), delete v.tls)))).toEqual([]);
  });

  it('refuses ports out of range', () => {
    expect(errorsOf(withValues((v) => (v.service.port = 0)))).toContainEqual(expect.objectContaining({ instancePath: '/service/port' }));
    expect(errorsOf(withValues((v) => (v.service.port = 65536)))).toContainEqual(expect.objectContaining({ instancePath: '/service/port' }));
    expect(errorsOf(withValues((v) => (v.metrics.service.port = 70000)))).not.toEqual([]);
    expect(errorsOf(withValues((v) => (v.config.server.listen = '0.0.0.0:65536')))).toContainEqual(
      expect.objectContaining({ instancePath: '/config/server/listen', keyword: 'pattern' }),
    );
    expect(errorsOf(withValues((v) => (v.config.server.listen = '[::]:65535')))).toEqual([]);
    expect(errorsOf(withValues((v) => (v.config.admin.listen = '0.0.0.0:0')))).not.toEqual([]);
  });

  it('refuses a missing or loopback admin listener (probes need it), and a ServiceMonitor without metrics', () => {
    expect(errorsOf(withValues((v) => delete v.config.admin))).not.toEqual([]);
    expect(errorsOf(withValues((v) => (v.config.admin.listen = '127.0.0.1:9090')))).not.toEqual([]);
    expect(errorsOf(withValues((v) => ((v.metrics.enabled = false), (v.metrics.serviceMonitor.enabled = true))))).not.toEqual([]);
    expect(errorsOf(withValues((v) => (v.metrics.serviceMonitor.enabled = true)))).toEqual([]);
  });

  it('refuses unknown top-level keys (typos)', () => {
    expect(errorsOf(withValues((v) => (v.replicacount = 2)))).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties' }));
  });
});

describe('helm chart: the gateway accepts the config it would be given', () => {
  const load = (config: unknown, env: NodeJS.ProcessEnv = {}) => {
    const loaded = parseConfig(stringify(config), '<inline>', env);
    return { loaded, table: compileRouteTable(loaded) };
  };

  it('the gateway agrees with the schema on workers: refused with memory, accepted with redis', () => {
    const config = defaultValues().config as Record<string, any>;
    config.server.workers = 2;
    expect(() => load(config)).toThrow(/workers/);
    config.replay = { store: 'redis', redis: { mode: 'standalone', url_env: 'REDIS_URL' } };
    expect(load(config, { REDIS_URL: 'redis://127.0.0.1:6379' }).loaded.config.server.workers).toBe(2);
  });

  it('values.yaml config passes parseConfig and compiles to a route table', () => {
    const { loaded, table } = load(defaultValues().config);
    expect(table.routes.length).toBeGreaterThan(0);
    expect(loaded.config.replay.store).toBe('memory');
    expect(loaded.config.admin?.listen).toBe('0.0.0.0:9090');
  });

  // The YAML blocks of the chart README marked <!-- test: NAME --> are values files: they must pass the
  // schema (merged over values.yaml, as helm does) and the gateway's loader.
  const readme = read('README.md');
  const block = (name: string): Values => {
    const m = new RegExp(`<!-- test: ${name} -->\\s*\`\`\`yaml\\n([\\s\\S]*?)\`\`\``).exec(readme);
    if (m === null) throw new Error(`README block ${name} not found`);
    return parse(m[1] as string) as Values;
  };
  const merge = (base: unknown, over: unknown): unknown => {
    if (over === null) return undefined;
    if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || Array.isArray(over)) return over;
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
      const m = merge(out[k], v);
      if (m === undefined) delete out[k];
      else out[k] = m;
    }
    return out;
  };
  const validate = new Ajv({ allErrors: true, strictTypes: false }).compile(schema);

  for (const name of ['redis-values', 'sidecar-values']) {
    it(`README ${name} passes the values schema and the gateway loader`, () => {
      const values = merge(defaultValues(), block(name)) as Values;
      expect(validate(values) ? [] : validate.errors).toEqual([]);
      const { table } = load(values.config, { REDIS_URL: 'redis://127.0.0.1:6379' });
      expect(table.routes.length).toBeGreaterThan(0);
      if (name === 'sidecar-values') {
        for (const r of table.routes) expect(r.upstream.url.hostname).toBe('127.0.0.1');
      }
    });
  }

  it('README sidecar pod snippet mounts the config and TLS where the image looks, and probes the admin port', () => {
    const pod = (block('sidecar-pod') as any).spec.template.spec;
    const gw = pod.containers.find((c: { name: string }) => c.name === 'fapi-gateway');
    expect(gw.args).toEqual(['--config', '/etc/fapi-gateway/config/config.yaml']);
    // A directory: the kubelet never updates a subPath mount, so the ConfigMap would never hot-reload.
    const config = gw.volumeMounts.find((m: { name: string }) => m.name === 'fapi-gateway-config');
    expect(config).toMatchObject({ mountPath: '/etc/fapi-gateway/config' });
    expect(config.subPath).toBeUndefined();
    expect(gw.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: '/etc/fapi-gateway/tls' }));
    expect(gw.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'admin' });
    expect(gw.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(gw.securityContext).toMatchObject(defaultValues().securityContext as object);
    const sidecar = merge(defaultValues(), block('sidecar-values')) as any;
    expect(gw.ports).toContainEqual({ name: 'https', containerPort: Number(sidecar.config.server.listen.split(':').pop()) });
    expect(gw.ports).toContainEqual({ name: 'admin', containerPort: Number(sidecar.config.admin.listen.split(':').pop()) });
  });
});
