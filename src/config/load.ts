// YAML -> validated, cross-checked, frozen config. Runs once per (re)load, never per request.
import { X509Certificate } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar } from 'yaml';
import type { z } from 'zod';
import { configSchema, FAPI_ALGS, type GatewayConfig } from './schema.js';

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(
      `invalid config ${source}:\n` +
        issues.map((i) => `  - ${i.path || '(root)'}${i.line === undefined ? '' : ` (line ${i.line})`}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Secrets resolved from the environment at load time (never logged). */
export interface Secrets {
  readonly dpopNonceSecrets: readonly Buffer[] | undefined;
  readonly redisUrl: string | undefined;
  readonly redisPassword: string | undefined;
  /** client_secret_basic secrets for introspection, by issuer name. */
  readonly introspectionSecrets: Readonly<Record<string, string>>;
}

export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly secrets: Secrets;
  /** Where relative file paths in the config are resolved from. */
  readonly baseDir: string;
  readonly source: string;
  /** The config file's line of a key path, for problems found after loading (route compilation). */
  readonly lineOf?: (path: readonly (string | number)[]) => number | undefined;
}

type Path = readonly (string | number)[];

export const formatPath = (path: Path): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');

const MAX_ALIAS_RESOLUTIONS = 10_000;

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const lineOf = (path: Path): number | undefined => {
    // The key's own line where it has one (an unknown key, a nested map whose value starts below it).
    const parent = path.length === 0 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (isMap(parent) && typeof last === 'string') {
      const key = parent.items.find((pair) => isScalar(pair.key) && pair.key.value === last)?.key;
      if (isNode(key) && key.range) return lines.linePos(key.range[0]).line;
    }
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  // Warnings too: an unknown tag (`!env NAME`) would otherwise be read as its literal text.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ConfigError(
      source,
      problems.map((e) => ({ path: '', message: e.message.split('\n')[0] ?? e.message, line: e.linePos?.[0]?.line })),
    );
  }
  let raw: unknown;
  try {
    // Anchors shared by a few hundred routes are fine; alias bombs (billion laughs) stay refused.
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_RESOLUTIONS });
  } catch (e) {
    throw new ConfigError(source, [{ path: '', message: `${(e as Error).message.split('\n')[0]} (more than ${MAX_ALIAS_RESOLUTIONS} nodes copied through aliases)` }]);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(source, parsed.error.issues.map((i: z.core.$ZodIssue) => issueOf(i, lineOf)));
  }
  const config = parsed.data;
  const issues = crossCheck(config);
  issues.push(...unquotedClientIds(doc));
  const secrets = resolveSecrets(config, env, issues);
  if (issues.length > 0) {
    throw new ConfigError(source, issues.map((i) => ({ path: formatPath(i.path), message: i.message, line: lineOf(i.path) })));
  }
  config.server.public_origin = new URL(config.server.public_origin).origin;
  for (const r of config.routes) if (r.public_origin !== undefined) r.public_origin = new URL(r.public_origin).origin;
  return deepFreeze({ config, secrets, baseDir: source === '<inline>' ? process.cwd() : dirname(resolve(source)), source, lineOf });
}

/**
 * SIG-2: a client_id is compared as a string; YAML reads an unquoted `0123:` or `1e3:` key as a number,
 * which becomes "123" or "1000", and that client's requests would be refused for ever.
 */
function unquotedClientIds(doc: ReturnType<typeof parseDocument>): RawIssue[] {
  const clients = doc.getIn(['http_signatures', 'clients'], true);
  if (!isMap(clients)) return [];
  return clients.items
    .filter((pair) => isScalar(pair.key) && typeof pair.key.value !== 'string')
    .map((pair) => ({
      path: ['http_signatures', 'clients', String((pair.key as { value: unknown }).value)],
      message: `client id ${String((pair.key as { source?: string }).source ?? (pair.key as { value: unknown }).value)} is not a string in YAML: quote it ("...")`,
    }));
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read: ${(e as Error).message}` }]);
  }
  return parseConfig(text, file, env);
}

function issueOf(i: z.core.$ZodIssue, lineOf: (p: Path) => number | undefined): ConfigIssue {
  const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
  let message = i.message;
  // The first unknown key's own line, not its map's.
  if (i.code === 'unrecognized_keys') return { path: formatPath(path), message: `unknown key(s): ${i.keys.join(', ')}`, line: lineOf([...path, i.keys[0] as string]) ?? lineOf(path) };
  return { path: formatPath(path), message, line: lineOf(path) };
}

interface RawIssue {
  readonly path: Path;
  readonly message: string;
}

/** Two `host:port` listeners that cannot both bind: one port (not 0) on one host or a wildcard. */
function sameListener(a: string, b: string): boolean {
  const split = (l: string): [string, string] => [l.slice(0, l.lastIndexOf(':')).replace(/^\[|\]$/g, ''), l.slice(l.lastIndexOf(':') + 1)];
  const [ha, pa] = split(a);
  const [hb, pb] = split(b);
  // `::` is dual-stack (Node's default): it takes the port on every address; 0.0.0.0 on every IPv4 one.
  const covers = (w: string, h: string): boolean => w === '::' || (w === '0.0.0.0' && isIPv4(h));
  return Number(pa) !== 0 && Number(pa) === Number(pb) && (ha === hb || covers(ha, hb) || covers(hb, ha));
}

/** Rules that span keys: references, profiles (Q-6, TOK-1) and deployment safety. */
function crossCheck(c: GatewayConfig): RawIssue[] {
  const issues: RawIssue[] = [];
  const ids = new Set<string>();
  c.routes.forEach((r, i) => {
    const at = (...p: (string | number)[]): Path => ['routes', i, ...p];
    if (ids.has(r.id)) issues.push({ path: at('id'), message: `duplicate route id ${r.id}` });
    ids.add(r.id);
    r.auth.issuers.forEach((name, j) => {
      // Own keys only: `constructor` or `toString` must not resolve through Object.prototype.
      const iss = Object.hasOwn(c.issuers, name) ? c.issuers[name] : undefined;
      if (iss === undefined) {
        issues.push({ path: at('auth', 'issuers', j), message: `unknown issuer ${name}` });
        return;
      }
      if (r.profile !== 'non-fapi') {
        const bad = iss.algorithms.filter((a) => !(FAPI_ALGS as readonly string[]).includes(a));
        if (bad.length > 0) {
          issues.push({ path: at('auth', 'issuers', j), message: `issuer ${name} allows ${bad.join(', ')}, refused on ${r.profile} routes (Q-6)` });
        }
        if (r.profile === 'fapi1-advanced' && iss.algorithms.some((a) => a !== 'PS256' && a !== 'ES256')) {
          issues.push({ path: at('auth', 'issuers', j), message: `fapi1-advanced routes accept only PS256 and ES256 issuers (JWT-2)` });
        }
      }
    });
    if (r.auth.binding === 'none' && r.profile !== 'non-fapi') {
      issues.push({ path: at('auth', 'binding'), message: 'binding: none is a non-FAPI escape hatch: set profile: non-fapi' });
    }
    if (r.profile === 'fapi1-advanced' && r.auth.binding !== 'mtls') {
      issues.push({ path: at('auth', 'binding'), message: 'fapi1-advanced routes accept only mTLS-bound tokens (MTLS-6)' });
    }
    if (r.auth.dpop_nonce) {
      if (r.auth.binding === 'mtls' || r.auth.binding === 'none') {
        issues.push({ path: at('auth', 'dpop_nonce'), message: 'dpop_nonce needs a route that accepts DPoP' });
      }
      if (c.dpop.nonce === undefined) {
        issues.push({ path: at('auth', 'dpop_nonce'), message: 'dpop_nonce needs dpop.nonce.secret_env' });
      }
    }
    const binding = r.auth.resource_binding;
    if (binding !== undefined && r.match.path_prefix === undefined && binding.query_param === undefined) {
      issues.push({ path: at('auth', 'resource_binding'), message: 'resource_binding needs match.path_prefix (it binds the path segment after it) or query_param' });
    }
    // TOK-8 with TOK-7: only an entry meeting one of the route's rules may grant (see scope/resource-binding.ts).
    const ruled = r.auth.authorization_details;
    if (binding?.authorization_details !== undefined && ruled !== undefined) {
      const types = new Set([...ruled.all_of, ...ruled.any_of].map((x) => x.type));
      binding.authorization_details.forEach((d, j) => {
        if (!types.has(d.type)) {
          issues.push({ path: at('auth', 'resource_binding', 'authorization_details', j, 'type'), message: `${d.type} is in none of the route's authorization_details rules, so no entry of it could grant` });
        }
      });
    }
    if (r.auth.signed_requests && Object.keys(c.http_signatures?.clients ?? {}).length === 0) {
      issues.push({ path: at('auth', 'signed_requests'), message: 'signed_requests needs http_signatures.clients (the keys requests are signed with)' });
    }
    if (r.sign_responses && c.http_signatures?.response_signing === undefined) {
      issues.push({ path: at('sign_responses'), message: 'sign_responses needs http_signatures.response_signing (the keys responses are signed with)' });
    }
  });
  const sig = c.http_signatures;
  if (sig !== undefined) {
    const largest = Math.max(sig.max_body_bytes, sig.response_signing?.max_body_bytes ?? 0);
    if (sig.max_buffered_bytes < largest) {
      issues.push({ path: ['http_signatures', 'max_buffered_bytes'], message: `smaller than the largest body it must hold (${largest} bytes: max_body_bytes, response_signing.max_body_bytes)` });
    }
  }
  if (c.server.workers !== 1 && c.replay.store === 'memory') {
    issues.push({ path: ['server', 'workers'], message: 'more than one worker needs replay.store: redis (a memory store is per process)' });
  }
  if (c.admin !== undefined && sameListener(c.admin.listen, c.server.listen)) {
    issues.push({ path: ['admin', 'listen'], message: `the same port as server.listen (${c.server.listen})` });
  }
  if (c.replay.store === 'redis' && c.replay.redis === undefined) {
    issues.push({ path: ['replay', 'redis'], message: 'store: redis needs a redis section' });
  }
  crossCheckIntrospection(c, issues);
  // The JWT validator picks the issuer by `iss`: two JWT issuers with one URL would be ambiguous.
  const seen = new Map<string, string>();
  for (const [name, iss] of Object.entries(c.issuers)) {
    if (iss.token_format !== 'jwt') continue;
    const other = seen.get(iss.issuer);
    if (other !== undefined) issues.push({ path: ['issuers', name, 'issuer'], message: `same issuer as ${other}` });
    seen.set(iss.issuer, name);
  }
  return issues;
}

/** TOK-9, Q-3, INT-1: what token_format, revocation and introspection need from each other. */
function crossCheckIntrospection(c: GatewayConfig, issues: RawIssue[]): void {
  for (const [name, iss] of Object.entries(c.issuers)) {
    const at = (...p: string[]): Path => ['issuers', name, ...p];
    const i = iss.introspection;
    if (i === undefined) {
      if (iss.token_format === 'opaque') issues.push({ path: at('token_format'), message: 'token_format: opaque needs an introspection section' });
      if (iss.revocation === 'introspect') issues.push({ path: at('revocation'), message: 'revocation: introspect needs an introspection section' });
      continue;
    }
    const needs: Record<typeof i.auth, readonly (keyof typeof i)[]> = {
      private_key_jwt: ['private_key_file'],
      tls_client_auth: ['cert_file', 'key_file'],
      client_secret_basic: ['client_secret_env'],
    };
    const owned = ['private_key_file', 'private_key_alg', 'cert_file', 'key_file', 'client_secret_env'] as const;
    for (const k of needs[i.auth]) {
      if (i[k] === undefined) issues.push({ path: at('introspection', k), message: `auth: ${i.auth} needs ${k}` });
    }
    for (const k of owned) {
      const allowed = [...needs[i.auth], ...(i.auth === 'private_key_jwt' ? ['private_key_alg'] : [])];
      if (i[k] !== undefined && !allowed.includes(k)) issues.push({ path: at('introspection', k), message: `${k} does not apply to auth: ${i.auth}` });
    }
    if (i.auth === 'client_secret_basic') {
      c.routes.forEach((r, j) => {
        if (r.profile !== 'non-fapi' && r.auth.issuers.includes(name)) {
          issues.push({ path: ['routes', j, 'auth', 'issuers'], message: `issuer ${name} introspects with client_secret_basic, refused on ${r.profile} routes (INT-1)` });
        }
      });
    }
  }
}

function resolveSecrets(c: GatewayConfig, env: NodeJS.ProcessEnv, issues: RawIssue[]): Secrets {
  const read = (name: string | undefined, path: Path): string | undefined => {
    if (name === undefined) return undefined;
    const v = env[name];
    if (v === undefined || v === '') issues.push({ path, message: `environment variable ${name} is not set` });
    return v;
  };
  const nonceRaw = read(c.dpop.nonce?.secret_env, ['dpop', 'nonce', 'secret_env']);
  const dpopNonceSecrets = nonceRaw?.split(',').map((s) => Buffer.from(s.trim(), 'utf8'));
  if (dpopNonceSecrets?.some((s) => s.length < 32)) {
    issues.push({ path: ['dpop', 'nonce', 'secret_env'], message: 'each nonce secret needs at least 32 bytes' });
  }
  const r = c.replay.redis;
  const redisUrl = read(r?.url_env, ['replay', 'redis', 'url_env']);
  const redisPassword = read(r?.password_env, ['replay', 'redis', 'password_env']);
  // What ioredis needs; its own error ("Invalid URL") would come at start, without the setting's name.
  // The value is a secret (it may hold a password): never in the message.
  const u = redisUrl === undefined || redisUrl === '' ? undefined : URL.parse(redisUrl);
  if (redisUrl !== undefined && redisUrl !== '' && (u === null || (u?.protocol !== 'redis:' && u?.protocol !== 'rediss:'))) {
    issues.push({ path: ['replay', 'redis', 'url_env'], message: `${r?.url_env ?? 'the url_env variable'} is not a redis:// or rediss:// URL` });
  } else if (u !== undefined && u !== null && !decodes(u.username, u.password)) {
    // ioredis percent-decodes them and would throw "URI malformed" at start.
    issues.push({ path: ['replay', 'redis', 'url_env'], message: `${r?.url_env ?? 'the url_env variable'} has a user or password that is not percent-encoded (write % as %25)` });
  }
  if (r !== undefined && r.mode === 'standalone' && r.url_env === undefined) {
    issues.push({ path: ['replay', 'redis', 'url_env'], message: 'standalone redis needs url_env' });
  }
  if (r !== undefined && r.mode === 'sentinel' && (r.sentinels === undefined || r.sentinel_name === undefined)) {
    issues.push({ path: ['replay', 'redis'], message: 'sentinel mode needs sentinels and sentinel_name' });
  }
  if (r !== undefined && r.mode === 'cluster' && r.nodes === undefined) {
    issues.push({ path: ['replay', 'redis', 'nodes'], message: 'cluster mode needs nodes' });
  }
  const introspectionSecrets: Record<string, string> = {};
  for (const [name, iss] of Object.entries(c.issuers)) {
    const v = read(iss.introspection?.client_secret_env, ['issuers', name, 'introspection', 'client_secret_env']);
    if (v !== undefined && v !== '') introspectionSecrets[name] = v;
  }
  return { dpopNonceSecrets, redisUrl, redisPassword, introspectionSecrets };
}

function decodes(...parts: string[]): boolean {
  try {
    for (const p of parts) decodeURIComponent(p);
    return true;
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !Buffer.isBuffer(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Every file the config names (`*_file`: certificates, keys, CAs), resolved: reloads re-read them, so they are watched too. */
/** The text of a file the config names (relative to the config), or an error naming the setting. */
export function readConfigFile(loaded: Pick<LoadedConfig, 'baseDir'>, file: string, setting: string): string {
  try {
    return readFileSync(resolve(loaded.baseDir, file), 'utf8');
  } catch (e) {
    throw new Error(`${setting} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * A CA bundle (`*.ca_file`): PEM certificates, at least one, each one parsing. Node's TLS takes a file
 * of anything without a word and then trusts nothing, so every mTLS client or AS connection would fail
 * with a verification error far from its cause.
 */
export function readCaBundle(loaded: Pick<LoadedConfig, 'baseDir'>, file: string, setting: string): { readonly pem: string; readonly certificates: readonly X509Certificate[] } {
  const pem = readConfigFile(loaded, file, setting);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${setting} ${file}: not a PEM certificate bundle (no BEGIN CERTIFICATE block)`);
  const certificates = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new Error(`${setting} ${file}: certificate ${i + 1} does not parse (${(e as Error).message})`);
    }
  });
  return { pem, certificates };
}

/** readCaBundle's text, for Node's `ca` option. */
export const readCaFile = (loaded: Pick<LoadedConfig, 'baseDir'>, file: string, setting: string): string => readCaBundle(loaded, file, setting).pem;

export function referencedFiles(loaded: LoadedConfig): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k.endsWith('_file') && typeof x === 'string') out.push(resolve(loaded.baseDir, x));
        else walk(x);
      }
    }
  };
  walk(loaded.config);
  return [...new Set(out)];
}
