// SIG-8, SIG-9 (FAPI 2.0 HTTP Signatures §5.3.2.1): the gateway signs the upstream's response for the
// client, bound to the request it answers, with its own key; the public keys are served as a JWKS.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { serializeInnerList, serializeItem, type Item, type Parameters } from 'structured-headers';
import { ConfigError, formatPath, readConfigFile, type LoadedConfig } from '../config/load.js';
import { createSignature, keyProblem, type SigningAlg } from './algorithms.js';
import type { RequestSignature } from './request-signature.js';

export const RESPONSE_TAG = 'fapi-2-response';
/** The label of the gateway's member in Signature-Input and Signature. */
export const RESPONSE_LABEL = 'fapi-gw';

export interface ResponseKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: KeyObject;
}

/** The request a response answers, as the response signature covers it (`;req` components). */
export interface AnsweredRequest {
  readonly method: string;
  /** SIG-7's target URI: the public origin plus the target as sent. */
  readonly targetUri: string;
  /** The request's Content-Digest, when it had a body and one. */
  readonly contentDigest: string | undefined;
  /** The request's fapi-2-request signature (verified or not), when it had one. */
  readonly signature: RequestSignature | undefined;
}

const component = (name: string, params: [string, string | boolean][] = []): Item => [name, new Map(params) as Parameters];
const REQ: [string, boolean] = ['req', true];

export class ResponseSigner {
  /** The public keys, as served at jwksPath. */
  readonly jwks: string;

  constructor(
    private readonly keys: readonly ResponseKey[],
    readonly maxBodyBytes: number,
    readonly jwksPath: string,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    const published = keys.map((k) => ({ ...createPublicKey(k.privateKey).export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig' }));
    this.jwks = JSON.stringify({ keys: published });
  }

  /**
   * The response's Content-Digest (when it has a body), Signature-Input and Signature, as flat
   * lowercase name/value pairs. `body` undefined: a response without content (HEAD, 204, 304).
   */
  sign(status: number, body: Buffer | undefined, req: AnsweredRequest): string[] {
    const key = this.keys[0] as ResponseKey;
    const out: string[] = [];
    const covered: Item[] = [component('@status')];
    const values: string[] = [String(status)];
    if (body !== undefined) {
      const digest = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
      out.push('content-digest', digest);
      covered.push(component('content-digest'));
      values.push(digest);
    }
    covered.push(component('@method', [REQ]), component('@target-uri', [REQ]));
    values.push(req.method, req.targetUri);
    if (req.contentDigest !== undefined) {
      covered.push(component('content-digest', [REQ]));
      values.push(req.contentDigest);
    }
    if (req.signature !== undefined) {
      // FAPI2-HTTPSIG §5.3.2.1: the request signature and its signature input.
      covered.push(component('signature', [['key', req.signature.label], REQ]), component('signature-input', [['key', req.signature.label], REQ]));
      values.push(req.signature.signature, req.signature.input);
    }
    const params = new Map<string, string | number>([
      ['created', Math.floor(this.now())],
      ['keyid', key.kid],
      ['tag', RESPONSE_TAG],
    ]) as Parameters;
    const signatureParams = serializeInnerList([covered, params]);
    let base = '';
    covered.forEach((c, i) => (base += `${serializeItem(c)}: ${values[i]}\n`));
    base += `"@signature-params": ${signatureParams}`;
    const signature = createSignature(key.alg, key.privateKey, Buffer.from(base, 'latin1'));
    out.push('signature-input', `${RESPONSE_LABEL}=${signatureParams}`, 'signature', `${RESPONSE_LABEL}=:${signature.toString('base64')}:`);
    return out;
  }
}

/** `http_signatures.response_signing`, or undefined when not set. Throws ConfigError. */
export function buildResponseSigner(loaded: LoadedConfig): ResponseSigner | undefined {
  const section = loaded.config.http_signatures?.response_signing;
  if (section === undefined) return undefined;
  const problems: { path: string; message: string }[] = [];
  const keys: ResponseKey[] = [];
  section.keys.forEach((k, i) => {
    const path = formatPath(['http_signatures', 'response_signing', 'keys', i, 'key_file']);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readConfigFile(loaded, k.key_file, path));
    } catch (e) {
      return void problems.push({ path, message: (e as Error).message.startsWith(path) ? (e as Error).message : `${k.key_file}: not a PEM private key` });
    }
    const unusable = keyProblem(privateKey, k.alg);
    if (unusable !== undefined) return void problems.push({ path, message: unusable });
    keys.push({ kid: k.kid, alg: k.alg, privateKey });
  });
  if (problems.length > 0) throw new ConfigError(loaded.source, problems);
  return new ResponseSigner(keys, section.max_body_bytes, section.jwks_path);
}
