// HDR-4 / HDR-5 strict mode: malformed x-fapi-customer-ip-address and x-fapi-auth-date are refused; valid ones never.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { checkFapiHeaders, isImfFixdate, isIpAddress } from '../../../src/listen/fapi-headers.js';

// A request as Node's parser leaves it: rawHeaders holds every field as received.
const req = (fields: [string, string][]): IncomingMessage => ({ rawHeaders: fields.flat() }) as unknown as IncomingMessage;
const outcome = (fields: [string, string][]): string => {
  try {
    checkFapiHeaders(req(fields));
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return `${(e as GatewayError).code}: ${(e as GatewayError).message}`;
  }
};

describe('FAPI request headers, strict (HDR-4, HDR-5)', () => {
  it('HDR-4 never refuses a valid IPv4 or IPv6 address, whatever its case (conformance suite values)', () => {
    for (const ip of ['198.51.100.119', '2001:DB8::1893:25c8:1946', '::1', '::ffff:192.0.2.1', 'fe80::1']) expect(isIpAddress(ip), ip).toBe(true);
    expect(outcome([['x-fapi-customer-ip-address', '2001:DB8::1893:25c8:1946']])).toBe('ok');
  });

  it('HDR-4 refuses what is not an address, and a repeated field', () => {
    for (const bad of ['', 'localhost', '999.1.1.1', '198.51.100.119, 10.0.0.1', '198.51.100.119:443', '2001:db8::g']) expect(isIpAddress(bad), bad).toBe(false);
    expect(outcome([['x-fapi-customer-ip-address', 'not-an-ip']])).toBe('GW_FAPI_HEADER_INVALID: HDR-4 malformed x-fapi-customer-ip-address (strict)');
    expect(outcome([['x-fapi-customer-ip-address', '10.0.0.1'], ['x-fapi-customer-ip-address', '10.0.0.2']])).toBe(
      'GW_FAPI_HEADER_INVALID: HDR-4 2 x-fapi-customer-ip-address fields (strict)',
    );
  });

  it('HDR-5 accepts an IMF-fixdate and refuses other date forms, impossible dates and wrong weekdays', () => {
    expect(isImfFixdate('Tue, 11 Sep 2012 19:43:31 GMT')).toBe(true);
    for (const bad of [
      'Mon, 11 Sep 2012 19:43:31 GMT', // wrong weekday
      'Fri, 31 Feb 2012 19:43:31 GMT', // no such day
      'Tuesday, 11-Sep-12 19:43:31 GMT', // RFC 850 (obsolete)
      'Tue Sep 11 19:43:31 2012', // asctime (obsolete)
      '2012-09-11T19:43:31Z',
      'Tue, 11 Sep 2012 19:43:31 UTC',
      'Tue, 11 Sep 2012 24:43:31 GMT',
      'tue, 11 sep 2012 19:43:31 gmt',
      '',
    ]) {
      expect(isImfFixdate(bad), bad).toBe(false);
    }
    expect(outcome([['x-fapi-auth-date', 'Tue, 11 Sep 2012 19:43:31 GMT']])).toBe('ok');
    expect(outcome([['x-fapi-auth-date', '2012-09-11']])).toBe('GW_FAPI_HEADER_INVALID: HDR-5 malformed x-fapi-auth-date (strict)');
  });

  it('HDR-5 never refuses because the headers are absent', () => {
    expect(outcome([['x-fapi-interaction-id', 'x']])).toBe('ok');
  });
});
