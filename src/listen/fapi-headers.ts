// HDR-4, HDR-5 in strict mode: the FAPI headers a client MAY send are refused when malformed. In the
// default lenient mode they are forwarded as sent, and a valid value is never refused in either mode.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { GatewayError } from '../errors/gateway-error.js';
import { fieldValues } from './header-fields.js';

// RFC 9110 §5.6.7 IMF-fixdate, e.g. `Tue, 11 Sep 2012 19:43:31 GMT`.
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** An IMF-fixdate naming a real instant, with the right weekday (31 Feb or a wrong day name is refused). */
export function isImfFixdate(v: string): boolean {
  if (!IMF_FIXDATE.test(v)) return false;
  const t = Date.parse(v);
  return Number.isFinite(t) && new Date(t).toUTCString() === v;
}

/** HDR-4: an IPv4 or IPv6 address (any case, as the conformance suite sends it). */
export const isIpAddress = (v: string): boolean => isIP(v) !== 0;

function single(req: IncomingMessage, name: string, valid: (v: string) => boolean, what: string): void {
  const values = fieldValues(req, name);
  if (values === undefined) return;
  if (values.length !== 1) throw new GatewayError('GW_FAPI_HEADER_INVALID', `${what} ${values.length} ${name} fields (strict)`);
  if (!valid(values[0] as string)) throw new GatewayError('GW_FAPI_HEADER_INVALID', `${what} malformed ${name} (strict)`);
}

export function checkFapiHeaders(req: IncomingMessage): void {
  single(req, 'x-fapi-customer-ip-address', isIpAddress, 'HDR-4');
  single(req, 'x-fapi-auth-date', isImfFixdate, 'HDR-5');
}
