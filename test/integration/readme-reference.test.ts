// Review (newcomer): the README's reference tables are what a platform engineer configures and alerts
// from. Until now only the error codes and their statuses were compared with the code
// (test/unit/errors/catalog.test.ts). These pin the rest: the config reference against the schema (every key,
// every default), the error catalog's `error`, challenge and description columns, the metrics table
// against the registry, and the log fields against the request line. They all pass today.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../src/errors/catalog.js';
import { createMetrics } from '../../src/observe/metrics.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const schema = JSON.parse(readFileSync(new URL('../../config/schema.json', import.meta.url), 'utf8')) as JsonSchema;

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  default?: unknown;
}

/** The text of one `## ` section of the README. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section ${title}`);
  const end = readme.indexOf('\n## ', start + 4);
  return readme.slice(start, end < 0 ? undefined : end);
}

// Every configurable leaf of the schema, as the README's tables name them (`issuers.<name>.`, `routes[].`).
interface Leaf {
  readonly path: string;
  readonly default: unknown;
  readonly required: boolean;
}
function leaves(node: JsonSchema, path: string[] = [], required = true, out: Leaf[] = []): Leaf[] {
  if (node.properties !== undefined) {
    for (const [k, v] of Object.entries(node.properties)) leaves(v, [...path, k], (node.required ?? []).includes(k), out);
  } else if (typeof node.additionalProperties === 'object' && node.additionalProperties.properties !== undefined) {
    leaves(node.additionalProperties, [...path, '<name>'], true, out);
  } else if (path.at(-1) === 'routes' && node.items?.properties !== undefined) {
    leaves(node.items, [...path.slice(0, -1), 'routes[]'], true, out);
  } else {
    out.push({ path: path.join('.'), default: node.default, required });
  }
  return out;
}

// The Config reference's rows: `### \`<section>\`` then `| \`key\`, \`.other\` | default | meaning |`.
interface Row {
  readonly key: string;
  readonly shown: string;
  readonly meaning: string;
}
function documentedRows(): Map<string, Row> {
  const rows = new Map<string, Row>();
  let current: string | undefined;
  for (const line of readme.split('\n')) {
    const h = /^### `([^`]+)`/.exec(line);
    if (h !== null) {
      current = h[1];
      continue;
    }
    if (line.startsWith('## ')) current = undefined;
    if (current === undefined || !line.startsWith('| `')) continue;
    const [keyCell = '', defaultCell = '', ...rest] = line.slice(2, -2).split(' | ');
    const keys = [...keyCell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    const defaults = defaultCell.split(/,\s*/);
    let last = '';
    keys.forEach((k, i) => {
      // `.jwks_file` continues the previous key's parent (`clients.<client_id>.jwks` / `.jwks_file`).
      const full = k.startsWith('.') ? last.replace(/\.[^.]+$/, '') + k : k;
      last = full;
      const shown = keys.length > 1 && defaults.length === keys.length ? (defaults[i] as string) : defaultCell;
      rows.set(`${current}.${full.replace('<client_id>', '<name>')}`, { key: full, shown: shown.replaceAll('`', '').trim(), meaning: rest.join(' | ') });
    });
  }
  return rows;
}

/** Whether the README's default cell says the schema's default. */
function sameDefault(shown: string, value: unknown): boolean {
  if (typeof value === 'number') return shown.replace(/\(.*\)/, '').replace(/[\s_]/g, '') === String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return shown === String(value);
  // `none` for an empty list: the rule set itself is optional (`auth.authorization_details.all_of`).
  if (Array.isArray(value)) return shown.replace(/[[\]\s]/g, '') === value.join(',') || (value.length === 0 && shown === 'none');
  return true; // {} defaults: a section's own default, not a value
}

describe('README Config reference = config/schema.json (review: newcomer)', () => {
  const all = leaves(schema).filter((l) => !l.path.startsWith('identity_headers.'));
  const rows = documentedRows();
  // A leaf is documented by its own row, or named in the row of the object it belongs to
  // (`auth.resource_binding`'s members, a client's inline `jwks.keys`).
  const rowFor = (leaf: Leaf): Row | undefined => rows.get(leaf.path);
  const parentRow = (leaf: Leaf): Row | undefined => {
    const parts = leaf.path.split('.');
    for (let n = parts.length - 1; n > 0; n--) {
      const r = rows.get(parts.slice(0, n).join('.'));
      if (r !== undefined) return r;
    }
    return undefined;
  };

  it('the tables were read (not vacuous)', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(rows.size).toBeGreaterThan(100);
  });

  it('every setting of the schema has a row (or is named in its parent\'s row)', () => {
    const missing = all.filter((l) => {
      if (rowFor(l) !== undefined) return false;
      const p = parentRow(l);
      const name = l.path.split('.').at(-1) as string;
      return p === undefined || !(p.meaning.includes(`\`${name}\``) || p.meaning.includes(`\`${name}:`) || p.meaning.includes(`{"${name}":`));
    });
    expect(missing.map((l) => l.path)).toEqual([]);
  });

  it('every row names a setting the schema has', () => {
    const known = new Set<string>();
    for (const l of all) {
      const parts = l.path.split('.');
      for (let n = 1; n <= parts.length; n++) known.add(parts.slice(0, n).join('.'));
    }
    expect([...rows.keys()].filter((k) => !known.has(k))).toEqual([]);
  });

  it('every documented default is the schema\'s default; required settings say so', () => {
    const wrong: string[] = [];
    for (const l of all) {
      const r = rowFor(l);
      if (r === undefined) continue;
      if (l.default !== undefined && !sameDefault(r.shown, l.default)) wrong.push(`${l.path}: README ${r.shown}, schema ${JSON.stringify(l.default)}`);
      if (l.default === undefined && r.shown !== 'required' && l.required && !/none|one required/.test(r.shown)) wrong.push(`${l.path}: required, README ${r.shown}`);
    }
    expect(wrong).toEqual([]);
  });

  it('identity_headers: every name the schema takes is listed, and its default is a header of the upstream table', () => {
    const props = schema.properties?.identity_headers?.properties ?? {};
    const para = /### `identity_headers`\n\n([^\n]+)/.exec(readme)?.[1] ?? '';
    const upstreamTable = section('How a request flows');
    for (const [k, v] of Object.entries(props)) {
      expect(para, k).toContain(`\`${k}\``);
      const name = v.default as string;
      // `x-authenticated-acr`, `-auth-time`, `-amr` share one row.
      const short = name.replace(/^x-authenticated/, '');
      expect(upstreamTable.includes(`\`${name}\``) || upstreamTable.includes(`\`${short}\``), name).toBe(true);
    }
  });
});

describe('README error catalog = src/errors/catalog.ts, every column (review: newcomer)', () => {
  const challengeText: Record<string, string> = {
    none: '—',
    bare: 'every offered scheme, no `error`',
    used: 'scheme used carries `error`',
    all: 'every offered scheme carries `error`',
  };
  const rows = readme.split('\n').filter((l) => l.startsWith('| `GW_'));

  it('the README lists exactly the catalog\'s codes', () => {
    expect(rows.map((r) => /`(GW_[A-Z_]+)`/.exec(r)?.[1]).sort()).toEqual(Object.keys(CATALOG).sort());
  });

  for (const [code, e] of Object.entries(CATALOG)) {
    it(`${code}: status, error, challenge and description as the gateway sends them`, () => {
      const row = rows.find((r) => r.startsWith(`| \`${code}\` |`));
      const [, status, error, challenge, description] = (row ?? '').slice(2, -2).split(' | ');
      expect({ status, error, description }).toEqual({ status: String(e.status), error: `\`${e.error}\``, description: e.description });
      expect(challenge?.startsWith(challengeText[e.challenge] as string), `${code} challenge column "${challenge}" vs ${e.challenge}`).toBe(true);
    });
  }
});

describe('README metrics and log fields = what the gateway emits (review: newcomer)', () => {
  it('the metrics table names exactly the registered metrics (plus the cluster primary\'s own)', async () => {
    const table = section('Logs and metrics');
    const documented = [...table.matchAll(/^\| `(fapi_gateway_[a-z_]+)` \|([^|]*)\|/gm)].map((m) => ({ name: m[1] as string }));
    const m = createMetrics();
    const registered = (await m.registry.getMetricsAsJSON()).map((x) => x.name).filter((n) => !n.startsWith('fapi_gateway_process_'));
    expect(documented.length).toBeGreaterThan(10);
    expect(documented.map((d) => d.name).filter((n) => n !== 'fapi_gateway_cluster_workers_unanswered').sort()).toEqual(registered.sort());
  });

  it('the request line has exactly the documented fields', () => {
    const text = section('Logs and metrics');
    const first = text.slice(text.indexOf('Exactly one JSON line per request'), text.indexOf('Tokens, proofs, keys and certificates are never logged'));
    for (const field of ['interaction_id', 'route', 'method', 'path', 'decision', 'reason', 'status', 'latency_ms', 'client_id', 'issuer', 'binding', 'key_thumbprint', 'signature_keyid', 'token_hash', 'remote', 'detail', 'replaced_interaction_id']) {
      expect(first, field).toContain(`\`${field}\``);
    }
    // And the line writer's own list (src/observe/request-log.ts KEYS) has no field the README leaves out.
    const src = readFileSync(new URL('../../src/observe/request-log.ts', import.meta.url), 'utf8');
    const keys = [...(/const KEYS = \[([\s\S]*?)\]/.exec(src)?.[1] ?? '').matchAll(/'([a-z_]+)'/g)].map((k) => k[1] as string);
    expect(keys.length).toBeGreaterThan(10);
    expect(keys.filter((k) => !first.includes(`\`${k}\``))).toEqual([]);
  });
});
