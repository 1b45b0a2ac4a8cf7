// Regression (review of 1a893fe, failed before the fix): HDR-15 config: "Origins are validated as browsers serialise them" (commit 1a893fe). The regex
// lets through origins no browser ever sends in `Origin` (a browser serialises the URL first: leading-zero
// ports fold, IPv4 in hex or a single number becomes dotted, IPv6 is compressed), and ports past 65535.
// Such an entry loads silently and never matches: the operator believes the SPA is allowed.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { oneRouteConfig } from '../support/config.js';

const yaml = (origin: string): string => oneRouteConfig({ route: `cors: { allowed_origins: ["${origin}"] }` });

describe('HDR-15 cors.allowed_origins a browser can never send are refused at load', () => {
  it.each([
    ['https://app.example:99999', 'no such port: not a valid URL'],
    ['https://app.example:0443', 'browsers send https://app.example'],
    ['https://app.example:08443', 'browsers send https://app.example:8443'],
    ['http://[0:0:0:0:0:0:0:1]:3000', 'browsers send http://[::1]:3000'],
    ['http://[::ffff:127.0.0.1]', 'browsers send http://[::ffff:7f00:1]'],
    ['http://0x7f.1:3000', 'browsers send http://127.0.0.1:3000'],
    ['http://2130706433:3000', 'browsers send http://127.0.0.1:3000'],
  ])('HDR-15 %s is refused (%s)', (origin) => {
    // Guard: this is what a browser would put in Origin for a page at that URL, and it differs.
    let serialised: string | undefined;
    try {
      serialised = new URL(origin).origin;
    } catch {
      serialised = undefined;
    }
    expect(serialised).not.toBe(origin);
    expect(() => parseConfig(yaml(origin), 'cors.yaml', {})).toThrow(/allowed_origins|origin/);
  });
});
