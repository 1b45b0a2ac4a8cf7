// Path confusion: the path the gateway authorised is the path the upstream receives. Ambiguous targets
// (dot-dot, encoded '/' or '\', raw '\', NUL, absolute-form) are refused with 400 before routing; harmless
// encodings are normalised once and forwarded in normalised form. Raw TLS writes are used throughout
// because Node's client (WHATWG URL) would normalise the target before sending it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, type RawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

/** One request with a verbatim request line, a valid bound token and the client1 certificate. */
async function send(requestLine: string, extra = ''): Promise<RawResponse> {
  const { response } = await h.raw(`${requestLine}\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`);
  return parseRawResponse(response);
}

/** 400 invalid_request with the ambiguous-path JSON body, and nothing forwarded. */
async function ambiguous(target: string, description = 'The request path is ambiguous'): Promise<RawResponse> {
  const before = h.upstream.received.length;
  const r = await send(`GET ${target} HTTP/1.1`);
  expect(r.status, target).toBe(400);
  expect(r.head).toMatch(/\r\ncontent-type: application\/json\r\n/i);
  expect(r.head).toMatch(/\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/i);
  expect(r.head).toMatch(/\r\ndate: /i);
  expect(r.head).not.toMatch(/www-authenticate/i);
  expect(JSON.parse(r.body), target).toEqual({ error: 'invalid_request', error_description: description });
  expect(h.upstream.received.length, target).toBe(before);
  return r;
}

/** 200 and the upstream received exactly `expected` as its request-target. */
async function normalisedTo(target: string, expected: string): Promise<void> {
  const before = h.upstream.received.length;
  const r = await send(`GET ${target} HTTP/1.1`);
  expect(r.status, target).toBe(200);
  expect(h.upstream.received.length).toBe(before + 1);
  expect(h.upstream.received.at(-1)!.url, target).toBe(expected);
}

describe('dot-dot traversal out of an authorised prefix is refused', () => {
  it('/accounts/../admin -> 400 GW_PATH_AMBIGUOUS', async () => {
    await ambiguous('/accounts/../admin');
  });
  it('/accounts/%2e%2e/admin -> 400', async () => {
    await ambiguous('/accounts/%2e%2e/admin');
  });
  it('/accounts/%2E%2E/%2e%2e/x -> 400', async () => {
    await ambiguous('/accounts/%2E%2E/%2e%2e/x');
  });
  it('mixed encodings .%2e and %2e. and a trailing /.. -> 400', async () => {
    await ambiguous('/accounts/.%2e/admin');
    await ambiguous('/accounts/%2E./admin');
    await ambiguous('/accounts/1/..');
    await ambiguous('/accounts/1/../../admin?x=1');
  });
  it('Tomcat/Spring path parameters: /accounts/..;/admin and /accounts/.;x/1 -> 400', async () => {
    await ambiguous('/accounts/..;/admin');
    await ambiguous('/accounts/..;jsessionid=1/admin');
    await ambiguous('/accounts/%2e%2e;/admin');
    await ambiguous('/accounts/.;x/1');
  });
});

describe('encoded and raw separators are refused', () => {
  it('/accounts%2fadmin and /accounts%2Fadmin -> 400', async () => {
    await ambiguous('/accounts%2fadmin');
    await ambiguous('/accounts%2Fadmin');
    await ambiguous('/accounts/..%2fadmin');
  });
  it('/accounts%5cadmin and /accounts%5Cadmin -> 400', async () => {
    await ambiguous('/accounts%5cadmin');
    await ambiguous('/accounts%5Cadmin');
  });
  it('/accounts\\admin (a raw backslash) -> 400', async () => {
    await ambiguous('/accounts\\admin');
    await ambiguous('/accounts\\..\\admin');
  });
  it('/accounts/%00 and other encoded control characters -> 400', async () => {
    await ambiguous('/accounts/%00');
    await ambiguous('/accounts/1%00.json');
    await ambiguous('/accounts/%0d%0aX-Injected:%201');
    await ambiguous('/accounts/%7f');
  });
  it('broken percent-encoding -> 400', async () => {
    await ambiguous('/accounts/%zz');
    await ambiguous('/accounts/%2');
  });
});

describe('only origin-form request-targets are accepted', () => {
  it('absolute-form GET https://evil.example/accounts/1 -> 400, never forwarded', async () => {
    await ambiguous('https://evil.example/accounts/1');
    await ambiguous('http://api.test/accounts/1');
  });
  it('a request-target not starting with / -> 400 (Node\'s parser refuses it first: GW_BAD_REQUEST)', async () => {
    await ambiguous('accounts/1', 'The request is malformed');
  });
});

describe('harmless variants are normalised once and forwarded in normalised form', () => {
  it('/accounts/./1 -> upstream receives exactly /accounts/1', async () => {
    await normalisedTo('/accounts/./1', '/accounts/1');
  });
  it('/acc%6Funts/1 -> upstream receives exactly /accounts/1', async () => {
    await normalisedTo('/acc%6Funts/1', '/accounts/1');
  });
  it('encoded unreserved characters anywhere, and ./ runs, collapse to /accounts/1', async () => {
    await normalisedTo('/%61%63%63%6f%75%6e%74%73/%31', '/accounts/1');
    await normalisedTo('/./accounts/././1', '/accounts/1');
  });
  it('reserved escapes stay encoded with upper-case hex, the query is kept', async () => {
    await normalisedTo('/accounts/a%3ab?x=1', '/accounts/a%3Ab?x=1');
  });
});

describe('prefix matching is per segment', () => {
  it('/accountsX -> 404, never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const t of ['/accountsX', '/accounts%58', '/accounts.json', '/ACCOUNTS/1']) {
      const r = await send(`GET ${t} HTTP/1.1`);
      expect(r.status, t).toBe(404);
      expect(JSON.parse(r.body).error).toBe('not_found');
    }
    expect(h.upstream.received.length).toBe(before);
  });
});
