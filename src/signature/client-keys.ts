// SIG-2: the public keys clients sign requests with, by the access token's client_id: compiled once
// per config from `jwks`/`jwks_file`, or fetched from the client's `jwks_uri` (client-jwks.ts).
// The algorithm is the key's (its JWK `alg`), never the request's choice.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ConfigError, formatPath, readConfigFile, type LoadedConfig } from '../config/load.js';
import { signingJwks, type SigningJwks } from '../config/schema.js';
import { keyProblem, type SigningAlg } from './algorithms.js';

export interface ClientKey {
  readonly key: KeyObject;
  readonly alg: SigningAlg;
}

/** client_id -> keyid -> key. */
export type ClientKeys = ReadonlyMap<string, ReadonlyMap<string, ClientKey>>;

/** One client's keys behind its jwks_uri. */
export interface FetchedClientKeys {
  /** undefined: the client has no such key. Throws GW_CLIENT_JWKS_UNAVAILABLE (503) when its keys cannot be had. */
  find(keyid: string): Promise<ClientKey | undefined>;
}

/** Every client's keys, configured or fetched. */
export class ClientKeyring {
  constructor(
    private readonly configured: ClientKeys,
    private readonly fetched: ReadonlyMap<string, FetchedClientKeys> = new Map(),
  ) {}

  /** undefined: no such client or key. */
  find(clientId: string, keyid: string): ClientKey | undefined | Promise<ClientKey | undefined> {
    return this.fetched.get(clientId)?.find(keyid) ?? this.configured.get(clientId)?.get(keyid);
  }
}

/** A JWK (already shaped as `signingJwk`) as a client's signing key, or why it cannot be one. */
export function importClientKey(jwk: SigningJwks['keys'][number]): ClientKey | string {
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'use must be sig';
  // RFC 7517 §4.3, as jose checks the issuers' keys: listed operations must include verify.
  const ops = (jwk as { key_ops?: unknown }).key_ops;
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return 'key_ops must include verify';
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (e) {
    return `not a usable public key (${(e as Error).message})`;
  }
  return keyProblem(key, jwk.alg) ?? Object.freeze({ key, alg: jwk.alg });
}

/**
 * The keys of `http_signatures.clients` given inline or as a file (not those behind a `jwks_uri`), or
 * undefined when the section is not set. Throws ConfigError.
 */
export function compileClientKeys(loaded: LoadedConfig): ClientKeys | undefined {
  const section = loaded.config.http_signatures;
  if (section === undefined) return undefined;
  const problems: { path: string; message: string }[] = [];
  const out = new Map<string, ReadonlyMap<string, ClientKey>>();
  for (const [clientId, source] of Object.entries(section.clients)) {
    if (source.jwks_uri !== undefined) continue;
    const at = ['http_signatures', 'clients', clientId];
    const jwks = source.jwks ?? readJwksFile(loaded, source.jwks_file as string, formatPath([...at, 'jwks_file']), problems);
    if (jwks === undefined) continue;
    const keys = new Map<string, ClientKey>();
    jwks.keys.forEach((jwk, i) => {
      const path = formatPath([...at, ...(source.jwks === undefined ? ['jwks_file'] : ['jwks']), 'keys', i]);
      if (keys.has(jwk.kid)) return void problems.push({ path, message: `duplicate kid ${jwk.kid}` });
      const key = importClientKey(jwk);
      if (typeof key === 'string') return void problems.push({ path, message: key });
      keys.set(jwk.kid, key);
    });
    out.set(clientId, keys);
  }
  if (problems.length > 0) throw new ConfigError(loaded.source, problems);
  return out;
}

function readJwksFile(loaded: LoadedConfig, file: string, path: string, problems: { path: string; message: string }[]): SigningJwks | undefined {
  let json: unknown;
  try {
    json = JSON.parse(readConfigFile(loaded, file, path));
  } catch (e) {
    problems.push({ path, message: e instanceof SyntaxError ? `${file}: not JSON` : (e as Error).message });
    return undefined;
  }
  const parsed = signingJwks.safeParse(json);
  if (parsed.success) return parsed.data;
  for (const i of parsed.error.issues) problems.push({ path: `${path} ${formatPath(i.path as (string | number)[])}`.trim(), message: i.message });
  return undefined;
}
