// RFC 9421 §2: the signature base of a request, from the components a signature covers. Only what the
// gateway can reproduce exactly is supported: the derived request components and plain fields; any
// component parameter (`;sf`, `;key`, `;bs`, `;req`, `;name`) is refused rather than half-understood.
import { GatewayError } from '../errors/gateway-error.js';

/** The request as the client sent it. */
export interface RequestView {
  readonly method: string;
  /** SIG-7: the public origin plus the request target exactly as sent (path and query). */
  readonly targetUri: string;
  /** As Node's IncomingMessage.rawHeaders: [name, value, name, value, ...], in the order received. */
  readonly rawHeaders: readonly string[];
}

const invalid = (detail: string): GatewayError => new GatewayError('GW_HTTP_SIG_INVALID', detail);

/** The request target as sent: everything from the first `/` after the authority. */
function rawTarget(targetUri: string): string {
  const slash = targetUri.indexOf('/', targetUri.indexOf('://') + 3);
  return slash === -1 ? '/' : targetUri.slice(slash);
}

/** RFC 9421 §2.1: every field line of that name, each value trimmed, joined with ", "; undefined if none. */
export function fieldValue(rawHeaders: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== name) continue;
    const v = (rawHeaders[i + 1] as string).trim();
    out = out === undefined ? v : `${out}, ${v}`;
  }
  return out;
}

/** The value of one covered component (RFC 9421 §2.1, §2.2). */
export function componentValue(id: string, req: RequestView): string {
  switch (id) {
    case '@method':
      return req.method;
    case '@target-uri':
      return req.targetUri;
    case '@authority':
      return new URL(req.targetUri).host;
    case '@scheme':
      return new URL(req.targetUri).protocol.slice(0, -1);
    case '@request-target':
      return rawTarget(req.targetUri);
    case '@path': {
      const t = rawTarget(req.targetUri);
      const q = t.indexOf('?');
      return q === -1 ? t : t.slice(0, q);
    }
    case '@query': {
      const t = rawTarget(req.targetUri);
      const q = t.indexOf('?');
      return q === -1 ? '?' : t.slice(q);
    }
  }
  // Client-chosen names in log details are cut, as every client-chosen value is.
  const shown = JSON.stringify(id).slice(0, 80);
  if (id.startsWith('@')) throw invalid(`SIG-3 covered component ${shown} is not a request component the gateway derives`);
  if (id !== id.toLowerCase()) throw invalid(`SIG-3 covered field ${shown} is not lower-case (RFC 9421 §2.1)`);
  const v = fieldValue(req.rawHeaders, id);
  if (v === undefined) throw invalid(`SIG-3 covered field ${shown} is not in the request`);
  return v;
}

/**
 * RFC 9421 §2.5. `covered`: the component names, in the signature's order, without parameters (the
 * caller refuses parameterised ones); `signatureParams`: the serialized inner list of the signature.
 */
export function signatureBase(covered: readonly string[], signatureParams: string, req: RequestView): string {
  let base = '';
  for (const id of covered) {
    if (id === '@signature-params') throw invalid('SIG-3 @signature-params may not be a covered component');
    base += `"${id}": ${componentValue(id, req)}\n`;
  }
  return `${base}"@signature-params": ${signatureParams}`;
}
