// SIG-2..SIG-7 (FAPI 2.0 HTTP Signatures §5.3.1.2, RFC 9421 §3.2): the request's `fapi-2-request`
// signature. The cheap checks come first (which signature, what it covers, freshness, the key), then
// the signature, all on the head; the body's digest once it is read. Runs after the scope checks and
// before the DPoP jti is claimed, so a refused signature does not use up the proof.
import { parseDictionary, serializeInnerList, serializeItem, type Dictionary, type InnerList, type Item } from 'structured-headers';
import { GatewayError } from '../errors/gateway-error.js';
import { RFC9421_NAME, verifySignature } from './algorithms.js';
import type { ClientKeyring } from './client-keys.js';
import { checkContentDigest } from './content-digest.js';
import { fieldValue, signatureBase, type RequestView } from './signature-base.js';

export const REQUEST_TAG = 'fapi-2-request';
const REQUIRED = ['@method', '@target-uri', 'authorization'] as const;

export interface SignedRequest extends RequestView {
  /** It declares a body (Content-Length > 0 or Transfer-Encoding): content-digest must be covered. */
  readonly hasBody: boolean;
}

/** A request's fapi-2-request signature as a signed response covers it (SIG-8): label and members. */
export interface RequestSignature {
  readonly label: string;
  /** Its Signature member, serialized. */
  readonly signature: string;
  /** Its Signature-Input member, serialized. */
  readonly input: string;
}

/** A signature whose head checks passed. */
export interface VerifiedSignature extends RequestSignature {
  /** The keyid of the client key it verified with (for the log, cut to 80 characters). */
  readonly keyid: string;
  /** SIG-6, once the body is read: throws unless Content-Digest matches it. */
  checkBody(body: Buffer): void;
}

const invalid = (detail: string): GatewayError => new GatewayError('GW_HTTP_SIG_INVALID', detail);
const missing = (detail: string): GatewayError => new GatewayError('GW_HTTP_SIG_MISSING', detail);

function dictionary(rawHeaders: readonly string[], name: string): Dictionary | undefined {
  const value = fieldValue(rawHeaders, name);
  if (value === undefined) return undefined;
  try {
    return parseDictionary(value);
  } catch {
    throw invalid(`SIG-2 ${name} is not a structured-field dictionary (RFC 9421 §4)`);
  }
}

/** The one Signature-Input member tagged fapi-2-request, and its label. */
function requestSignatureInput(inputs: Dictionary): [string, InnerList] {
  let found: [string, InnerList] | undefined;
  for (const [label, member] of inputs) {
    if (!Array.isArray(member[0]) || member[1].get('tag') !== REQUEST_TAG) continue;
    if (found !== undefined) throw invalid(`SIG-3 more than one Signature-Input member is tagged ${REQUEST_TAG}`);
    found = [label, member as InnerList];
  }
  if (found === undefined) throw missing(`SIG-2 no Signature-Input member is tagged ${REQUEST_TAG}`);
  return found;
}

/** The covered component names; parameterised, repeated or non-string identifiers are refused. */
function coveredComponents(items: readonly Item[]): string[] {
  // A Set: a client may list thousands of names, and a quadratic check would stall the event loop.
  const names = new Set<string>();
  for (const [name, params] of items) {
    if (typeof name !== 'string') throw invalid('SIG-3 a covered component identifier is not a string');
    if (params.size > 0) throw invalid(`SIG-3 covered component ${JSON.stringify(name).slice(0, 80)} has parameters, not supported`);
    if (names.has(name)) throw invalid(`SIG-3 covered component ${JSON.stringify(name).slice(0, 80)} is listed twice`);
    names.add(name);
  }
  return [...names];
}

/**
 * RFC 9421 §2.3: created and expires are Integers. The parser reads `1700000000.0` (a Decimal) as the
 * same number, and the base would then be rebuilt as `created=1700000000`: look at the member's text.
 * Members are split at the commas outside strings (a valid dictionary was parsed already); the last
 * one of the label counts, as in the parser (RFC 8941 §4.2.2).
 */
/** The member `label` of a dictionary field as sent, strings emptied (the last one wins, as in parsing). */
function memberText(field: string, label: string): string | undefined {
  return field
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .split(',')
    .filter((m) => m.trimStart().startsWith(`${label}=`))
    .at(-1);
}

function refuseDecimalTimes(signatureInput: string, label: string): void {
  const member = memberText(signatureInput, label);
  if (member !== undefined && /;\s*(created|expires)=-?\d+\./.test(member)) throw invalid('SIG-4 created or expires is a Decimal, not an Integer (RFC 9421 §2.3)');
}

/**
 * RFC 8941 §4.1.5: a Decimal with a zero fraction serialises as `1.0`; the parser reads it as the number
 * 1, which serialises as the Integer `1`. The parameters of `member` (as sent) that were such Decimals
 * are written back as Decimals in `serialized`, or the base would differ from the one the client signed.
 */
function keepZeroDecimals(serialized: string, member: string | undefined): string {
  if (member === undefined) return serialized;
  let out = serialized;
  for (const [, name, int] of member.matchAll(/;\s*([a-z*][a-z0-9_.*-]*)=(-?\d+)\.0+(?=\s*(?:;|$))/g)) {
    out = out.replace(new RegExp(`;${name!.replace(/[.*]/g, '\\$&')}=${int}(?=;|$)`), `;${name}=${int}.0`);
  }
  return out;
}

function integerParam(params: ReadonlyMap<string, unknown>, name: string): number | undefined {
  const v = params.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`SIG-4 ${name} is not an integer`);
  return v;
}

/** RFC 9421 §5.1 Accept-Signature on a signature refusal: the components this request must cover (E8). */
export function acceptSignature(hasDpop: boolean, hasBody: boolean): string {
  const covered = [...REQUIRED, ...(hasDpop ? ['dpop'] : []), ...(hasBody ? ['content-digest'] : [])].map((c) => `"${c}"`).join(' ');
  return `sig1=(${covered});tag="${REQUEST_TAG}"`;
}

/**
 * SIG-8 on a route that does not verify requests: the request's fapi-2-request signature as sent, if
 * it has exactly one that parses (a signed response covers it whether or not the gateway checked it).
 */
export function requestSignatureOf(rawHeaders: readonly string[]): RequestSignature | undefined {
  try {
    const inputs = dictionary(rawHeaders, 'signature-input');
    const member = inputs === undefined ? undefined : requestSignatureInput(inputs);
    const signature = member === undefined ? undefined : dictionary(rawHeaders, 'signature')?.get(member[0]);
    if (member === undefined || !(signature?.[0] instanceof ArrayBuffer)) return undefined;
    const label = member[0];
    return {
      label,
      signature: keepZeroDecimals(serializeItem(signature as Item), memberText(fieldValue(rawHeaders, 'signature') as string, label)),
      input: keepZeroDecimals(serializeInnerList(member[1]), memberText(fieldValue(rawHeaders, 'signature-input') as string, label)),
    };
  } catch {
    return undefined;
  }
}

export class RequestSignatureVerifier {
  constructor(
    private readonly clients: ClientKeyring,
    private readonly maxAgeS: number,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /**
   * Every check the head allows (all but the body's digest), so a refusal never waits for a body.
   * Rejects with GW_HTTP_SIG_MISSING or GW_HTTP_SIG_INVALID (E8), with the SIG-ID in the detail, or
   * GW_CLIENT_JWKS_UNAVAILABLE when the client's jwks_uri cannot be fetched.
   */
  async verify(req: SignedRequest, clientId: string | undefined): Promise<VerifiedSignature> {
    const inputs = dictionary(req.rawHeaders, 'signature-input');
    const signatures = dictionary(req.rawHeaders, 'signature');
    if (inputs === undefined || signatures === undefined) throw missing('SIG-2 the request has no Signature-Input or no Signature');
    const [label, [items, params]] = requestSignatureInput(inputs);
    const member = signatures.get(label);
    const signature = member?.[0];
    if (!(signature instanceof ArrayBuffer)) throw invalid(`SIG-2 Signature has no byte sequence labelled ${JSON.stringify(label).slice(0, 80)}`);

    // SIG-3, SIG-5, SIG-6: what the signature must cover.
    const covered = coveredComponents(items);
    for (const name of REQUIRED) if (!covered.includes(name)) throw invalid(`SIG-3 the signature does not cover ${name}`);
    if (fieldValue(req.rawHeaders, 'dpop') !== undefined && !covered.includes('dpop')) throw invalid('SIG-5 the request has a DPoP proof the signature does not cover');
    if (req.hasBody && !covered.includes('content-digest')) throw invalid('SIG-6 the request has a body and the signature does not cover content-digest');

    // SIG-4: fresh.
    const now = this.now();
    refuseDecimalTimes(fieldValue(req.rawHeaders, 'signature-input') as string, label);
    const created = integerParam(params, 'created');
    if (created === undefined) throw invalid('SIG-4 the signature has no created');
    if (Math.abs(now - created) > this.maxAgeS) throw invalid(`SIG-4 created is ${Math.round(now - created)} s from now (allowed ±${this.maxAgeS} s)`);
    const expires = integerParam(params, 'expires');
    if (expires !== undefined && expires < now) throw invalid('SIG-4 the signature has expired');

    // SIG-2: the client's key named by keyid; the algorithm is the key's.
    const keyid = params.get('keyid');
    if (typeof keyid !== 'string') throw invalid('SIG-2 the signature has no keyid string');
    if (clientId === undefined) throw invalid('SIG-2 the access token has no client_id to find the signing key by');
    const key = await this.clients.find(clientId, keyid);
    if (key === undefined) throw invalid(`SIG-2 no key ${JSON.stringify(keyid).slice(0, 80)} for client ${JSON.stringify(clientId).slice(0, 80)}`);
    const alg = params.get('alg');
    if (alg !== undefined && alg !== RFC9421_NAME[key.alg]) throw invalid(`SIG-2 alg ${JSON.stringify(alg).slice(0, 40)} is not the key's algorithm (${key.alg})`);

    // SIG-7 is in targetUri; the base, then the signature.
    const signatureParams = keepZeroDecimals(serializeInnerList([items, params]), memberText(fieldValue(req.rawHeaders, 'signature-input') as string, label));
    const base = signatureBase(covered, signatureParams, req);
    if (!verifySignature(key.alg, key.key, Buffer.from(base, 'latin1'), Buffer.from(signature))) throw invalid(`SIG-2 the signature does not verify with key ${keyid.slice(0, 80)}`);
    // SIG-6: the digest the signature covers must be the body's.
    const digest = covered.includes('content-digest') ? fieldValue(req.rawHeaders, 'content-digest') : undefined;
    return {
      label,
      keyid: keyid.slice(0, 80),
      signature: keepZeroDecimals(serializeItem(member as Item), memberText(fieldValue(req.rawHeaders, 'signature') as string, label)),
      input: signatureParams,
      checkBody: (body) => void (digest === undefined || checkContentDigest(digest, body)),
    };
  }
}
