// SIG-2: the public keys clients sign requests with, by the access token's client_id, compiled once
// per config. The algorithm is the key's (its JWK `alg`), never the request's choice.
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

/** The keys of `http_signatures.clients`, or undefined when the section is not set. Throws ConfigError. */
export function compileClientKeys(loaded: LoadedConfig): ClientKeys | undefined {
  const section = loaded.config.http_signatures;
  if (section === undefined) return undefined;
  const problems: { path: string; message: string }[] = [];
  const out = new Map<string, ReadonlyMap<string, ClientKey>>();
  for (const [clientId, source] of Object.entries(section.clients)) {
    const at = ['http_signatures', 'clients', clientId];
    const jwks = source.jwks ?? readJwksFile(loaded, source.jwks_file as string, formatPath([...at, 'jwks_file']), problems);
    if (jwks === undefined) continue;
    const keys = new Map<string, ClientKey>();
    jwks.keys.forEach((jwk, i) => {
      const path = formatPath([...at, ...(source.jwks === undefined ? ['jwks_file'] : ['jwks']), 'keys', i]);
      const problem = (message: string): void => void problems.push({ path, message });
      if (jwk.use !== undefined && jwk.use !== 'sig') return problem('use must be sig');
      if (keys.has(jwk.kid)) return problem(`duplicate kid ${jwk.kid}`);
      let key: KeyObject;
      try {
        key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
      } catch (e) {
        return problem(`not a usable public key (${(e as Error).message})`);
      }
      const unusable = keyProblem(key, jwk.alg);
      if (unusable !== undefined) return problem(unusable);
      keys.set(jwk.kid, Object.freeze({ key, alg: jwk.alg }));
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
