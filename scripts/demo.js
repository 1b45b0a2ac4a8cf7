#!/usr/bin/env node
// npm run demo: a whole FAPI 2.0 bank API on loopback, then a scripted walk through what the gateway
// lets in and what it refuses.
//
//   AS           oidc-provider (FAPI 2.0 profile: PAR + PKCE, DPoP, mTLS-bound tokens, private_key_jwt,
//                resource indicators -> RFC 9068 JWT or opaque access tokens, introspection, revocation)
//   legacy API   a plain HTTP echo service that records what reached it
//   gateway      dist/ (built by `npm ci`), config/demo.yaml copied next to freshly generated certs
//   TPPs         openid-client 6 / oauth4webapi: they get their tokens from the AS and call the API
//
// Prints one table row per request: what was attacked, the gateway's answer (status + the
// WWW-Authenticate error), why (the `reason` of the gateway's log line for that x-fapi-interaction-id)
// and whether the legacy API saw the request. Exits 0 when every answer is the expected one.
// `npm run demo -- --verbose` also prints the gateway's log lines.
import { createServer } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { parseDocument } from 'yaml';
import { generateSigningKey, publicJwk, startAuthorizationServer } from './lib/authorization-server.js';
import { createCa, issueClientCert, issueServerCert } from './lib/pki.js';
import { createTpp } from './lib/tpp.js';

const ROOT = resolve(import.meta.dirname, '..');
const CONFIG = join(ROOT, 'config', 'demo.yaml');
const VERBOSE = process.argv.includes('--verbose') || process.argv.includes('-v');
// `--serve`: after the walk-through, keep everything running and print a curl command to try by hand.
const SERVE = process.argv.includes('--serve');
const SERVE_MAX_MS = 15 * 60_000;

const API = 'https://api.bank.example';
const CARDS = 'https://cards.bank.example';
const OTHER = 'https://insurance.bank.example';
const REDIRECT_URI = 'https://tpp.example/callback';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function loadDist() {
  try {
    const [{ loadConfigFile }, { startGateway }] = await Promise.all([import('../dist/config/load.js'), import('../dist/main.js')]);
    return { loadConfigFile, startGateway };
  } catch (e) {
    throw new Error(`cannot load the gateway from dist/ (${e.message}); run \`npm run build\` (npm ci does it) first`);
  }
}

/** The legacy API: plain HTTP on loopback, answers 200 JSON and remembers every request. */
async function startLegacyApi() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    /** The request with this interaction id, if it got through. */
    saw: (interactionId) => received.find((r) => r.headers['x-fapi-interaction-id'] === interactionId),
    close: () =>
      new Promise((r) => {
        server.close(() => r(undefined));
        server.closeAllConnections();
      }),
  };
}

/** Certificates and keys for everyone, written where the config copy expects them. */
async function makeCredentials(dir) {
  const certs = join(dir, 'certs');
  await mkdir(certs, { recursive: true });
  const ca = await createCa('fapi-gateway demo CA');
  const [asTls, gwTls, tpp1, tpp2] = await Promise.all([
    issueServerCert(ca, 'demo AS', { dns: ['localhost'], ips: ['127.0.0.1'] }),
    issueServerCert(ca, 'api.bank.example', { dns: ['api.bank.example'], ips: [] }),
    issueClientCert(ca, 'tpp-mtls'),
    issueClientCert(ca, 'tpp-other'),
  ]);
  const [asKeyPs, asKeyEs, tppDpopKey, gatewayClientKey] = await Promise.all([
    generateSigningKey('PS256'),
    generateSigningKey('ES256'),
    generateSigningKey('ES256'),
    generateSigningKey('PS256'),
  ]);
  const secret = { mode: 0o600 };
  await Promise.all([
    writeFile(join(certs, 'ca.crt'), ca.certPem),
    writeFile(join(certs, 'gateway.crt'), gwTls.certPem),
    writeFile(join(certs, 'gateway.key'), gwTls.keyPem, secret),
    writeFile(join(certs, 'gateway-client.jwk.json'), JSON.stringify(gatewayClientKey), secret),
  ]);
  return { certs, ca, asTls, tpp1, tpp2, asKeys: [asKeyPs, asKeyEs], tppDpopKey, gatewayClientKey };
}

/** config/demo.yaml with the addresses this run got; comments and everything else kept. */
async function writeConfigCopy(dir, { issuer, upstream }) {
  const doc = parseDocument(await readFile(CONFIG, 'utf8'));
  doc.setIn(['server', 'listen'], '127.0.0.1:0');
  // The admin listener (/livez, /readyz, /metrics) on loopback too, to try the metrics reference.
  doc.setIn(['admin', 'listen'], '127.0.0.1:0');
  for (const name of Object.keys(doc.get('issuers').toJSON())) doc.setIn(['issuers', name, 'issuer'], issuer);
  doc.get('routes').items.forEach((_r, i) => doc.setIn(['routes', i, 'upstream', 'url'], upstream));
  const file = join(dir, 'demo.yaml');
  await writeFile(file, doc.toString());
  return file;
}

function table(rows) {
  const head = ['#', 'Request (who)', 'Attack', 'Gateway answer', 'Why (log reason)', 'Legacy API', 'Check'];
  const cells = rows.map((r, i) => [String(i + 1), r.request, r.attack, r.answer, r.reason, r.api, r.ok ? 'ok' : 'UNEXPECTED']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

async function main() {
  const { loadConfigFile, startGateway } = await loadDist();
  const cleanup = [];
  const logs = [];
  const rows = [];
  try {
    const dir = await mkdtemp(join(tmpdir(), 'fapi-gateway-demo-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const c = await makeCredentials(dir);

    const as = await startAuthorizationServer({
      tls: c.asTls,
      clientCaPem: c.ca.certPem,
      signingKeys: c.asKeys,
      accountId: 'alice',
      resources: {
        [API]: { scope: 'accounts payments', alg: 'PS256' },
        [OTHER]: { scope: 'accounts', alg: 'ES256' },
        [CARDS]: { scope: 'cards', format: 'opaque' },
      },
      clients: [
        {
          client_id: 'tpp-dpop',
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'ES256',
          jwks: { keys: [publicJwk(c.tppDpopKey)] },
          dpop_bound_access_tokens: true,
          grant_types: ['client_credentials', 'authorization_code'],
          response_types: ['code'],
          redirect_uris: [REDIRECT_URI],
        },
        { client_id: 'tpp-mtls', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=tpp-mtls', tls_client_certificate_bound_access_tokens: true },
        { client_id: 'tpp-other', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=tpp-other', tls_client_certificate_bound_access_tokens: true },
        { client_id: 'fapi-gateway', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'PS256', jwks: { keys: [publicJwk(c.gatewayClientKey)] } },
      ],
    });
    cleanup.push(() => as.close());
    const legacy = await startLegacyApi();
    cleanup.push(() => legacy.close());

    const configFile = await writeConfigCopy(dir, { issuer: as.issuer, upstream: legacy.url });
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    const gw = await startGateway(loadConfigFile(configFile, {}), { logDestination: sink });
    cleanup.push(() => gw.close(1000));
    const gwPort = gw.apiAddress.port;
    const adminUrl = `http://127.0.0.1:${gw.adminAddress?.port}`;

    console.log('fapi-gateway demo: everything on loopback, nothing else needed\n');
    console.log(`  AS           ${as.issuer}  (oidc-provider, FAPI 2.0: PAR+PKCE, DPoP, mTLS, private_key_jwt, RFC 9068 PS256/ES256 + opaque)`);
    console.log(`  gateway      https://127.0.0.1:${gwPort}  = ${API}  (config/demo.yaml, copied to ${configFile})`);
    console.log(`  admin        ${adminUrl}/metrics, /readyz, /livez`);
    // As a load balancer would: no traffic before /readyz says 200. A new memory replay store refuses
    // proofs that could predate it for dpop.iat_future_s (10 s), so readiness waits that long.
    process.stdout.write('  (waiting for /readyz: a fresh replay store takes dpop.iat_future_s to accept every proof) ');
    for (let i = 0; i < 300 && (await gw.notReady()) !== undefined; i++) await new Promise((r) => setTimeout(r, 100));
    console.log('ready');
    console.log(`  legacy API   ${legacy.url}  (plain HTTP, behind the gateway)`);
    console.log('  TPPs         openid-client / oauth4webapi: tpp-dpop (private_key_jwt + DPoP), tpp-mtls and tpp-other (tls_client_auth)\n');

    const connectTo = { 'api.bank.example': { host: '127.0.0.1', port: gwPort } };
    const ca = c.ca.certPem;
    const [dpopTpp, mtlsTpp, otherTpp, thief] = await Promise.all([
      createTpp({ issuer: as.issuer, clientId: 'tpp-dpop', ca, privateJwk: c.tppDpopKey, connectTo }),
      createTpp({ issuer: as.issuer, clientId: 'tpp-mtls', ca, cert: c.tpp1.certPem, key: c.tpp1.keyPem, connectTo }),
      createTpp({ issuer: as.issuer, clientId: 'tpp-other', ca, cert: c.tpp2.certPem, key: c.tpp2.keyPem, connectTo }),
      createTpp({ issuer: as.issuer, clientId: 'attacker', ca, connectTo }),
    ]);
    const dpopKey = await dpopTpp.dpopKey('ES256');

    const logFor = async (interactionId) => {
      const until = Date.now() + 2000;
      for (;;) {
        const line = logs.map((l) => JSON.parse(l)).find((l) => l.interaction_id === interactionId && l.reason !== undefined);
        if (line !== undefined || Date.now() > until) return line;
        await sleep(10);
      }
    };

    /** Run one scenario and record its row. expect: { status, error?, reason } */
    const step = async (request, attack, expect, run) => {
      let answer;
      let extra = '';
      try {
        const r = await run();
        answer = r.answer ?? r;
        extra = r.note ?? '';
      } catch (e) {
        rows.push({ request, attack, answer: `failed: ${e.message}`.slice(0, 60), reason: '-', api: '-', ok: false });
        return;
      }
      const reason = (await logFor(answer.interactionId))?.reason ?? '(no log line)';
      const seen = legacy.saw(answer.interactionId);
      const h = seen?.headers ?? {};
      const sub = h['x-authenticated-subject'];
      const api = seen === undefined ? 'not reached' : `saw ${h['x-authenticated-client-id']}, ${h['x-authenticated-binding']}${sub !== undefined && sub !== h['x-authenticated-client-id'] ? `, sub ${sub}` : ''}`;
      const ok =
        answer.status === expect.status &&
        (expect.error === undefined || answer.error === expect.error) &&
        reason === expect.reason &&
        (seen !== undefined) === (expect.status < 300);
      const said = `${answer.status}${answer.error === undefined ? '' : ` ${answer.error}`}`;
      rows.push({ request, attack: extra === '' ? attack : `${attack} ${extra}`, answer: said, reason, api, ok });
    };

    const accounts = `${API}/accounts/123`;

    await step('GET /accounts/123 (tpp-dpop)', 'none: DPoP-bound token + proof', { status: 200, reason: 'OK' }, async () => {
      const token = await dpopTpp.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
      return dpopTpp.call(token, accounts, { dpop: dpopKey });
    });
    await step('GET /accounts/123 (tpp-mtls)', 'none: mTLS-bound token, own cert', { status: 200, reason: 'OK' }, async () => {
      const token = await mtlsTpp.clientCredentials({ resource: API, scope: 'accounts' });
      return mtlsTpp.call(token, accounts);
    });
    await step('POST /payments (tpp-mtls)', 'none: mTLS-only route, payments', { status: 200, reason: 'OK' }, async () => {
      const token = await mtlsTpp.clientCredentials({ resource: API, scope: 'payments' });
      return mtlsTpp.call(token, `${API}/payments`, { method: 'POST', body: JSON.stringify({ amount: '10.00', currency: 'EUR' }) });
    });
    await step('GET /accounts/123 (tpp-dpop for alice)', 'none: PAR + PKCE code flow, DPoP', { status: 200, reason: 'OK' }, async () => {
      const key = await dpopTpp.dpopKey('ES256');
      const token = await dpopTpp.authorizationCode({ resource: API, scope: 'accounts', redirectUri: REDIRECT_URI, dpop: key });
      return dpopTpp.call(token, accounts, { dpop: key });
    });
    await step("GET /accounts/123 (attacker)", "stolen DPoP token, attacker's own DPoP key", { status: 401, error: 'invalid_token', reason: 'GW_DPOP_KEY_MISMATCH' }, async () => {
      const stolen = await dpopTpp.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
      return thief.call(stolen, accounts, { dpop: await thief.dpopKey('ES256') });
    });
    await step('GET /accounts/123 (attacker)', 'stolen DPoP token sent as Bearer', { status: 401, error: 'invalid_token', reason: 'GW_DPOP_BOUND_AS_BEARER' }, async () => {
      const stolen = await dpopTpp.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
      return thief.call(stolen, accounts);
    });
    await step('GET /accounts/123 (tpp-other)', "stolen mTLS token on another client's TLS connection", { status: 401, error: 'invalid_token', reason: 'GW_CERT_MISMATCH' }, async () => {
      const stolen = await mtlsTpp.clientCredentials({ resource: API, scope: 'accounts' });
      return otherTpp.call(stolen, accounts);
    });
    await step('GET /accounts/123 (attacker)', 'captured request (token + proof) replayed', { status: 401, error: 'invalid_dpop_proof', reason: 'GW_DPOP_REPLAY' }, async () => {
      const token = await dpopTpp.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
      const first = await dpopTpp.call(token, accounts, { dpop: dpopKey });
      if (first.status !== 200) throw new Error(`the original request got ${first.status}`);
      return thief.replay(dpopTpp.lastRequest());
    });
    await step('GET /accounts/123 (tpp-dpop)', `token issued for another audience (${new URL(OTHER).host})`, { status: 401, error: 'invalid_token', reason: 'GW_TOKEN_AUDIENCE' }, async () => {
      const token = await dpopTpp.clientCredentials({ resource: OTHER, scope: 'accounts', dpop: dpopKey });
      return dpopTpp.call(token, accounts, { dpop: dpopKey });
    });
    await step('GET /accounts/123 (tpp-mtls)', 'token with scope payments only', { status: 403, error: 'insufficient_scope', reason: 'GW_INSUFFICIENT_SCOPE' }, async () => {
      const token = await mtlsTpp.clientCredentials({ resource: API, scope: 'payments' });
      return mtlsTpp.call(token, accounts);
    });
    await step('GET /cards/9 (tpp-dpop)', 'none: opaque token, introspected', { status: 200, reason: 'OK' }, async () => {
      const token = await dpopTpp.clientCredentials({ resource: CARDS, scope: 'cards', dpop: dpopKey });
      return dpopTpp.call(token, `${API}/cards/9`, { dpop: dpopKey });
    });
    await step('GET /cards/9 (tpp-mtls)', 'token revoked at the AS', { status: 401, error: 'invalid_token', reason: 'GW_TOKEN_INACTIVE' }, async () => {
      const token = await mtlsTpp.clientCredentials({ resource: CARDS, scope: 'cards' });
      const before = await mtlsTpp.call(token, `${API}/cards/9`);
      if (before.status !== 200) throw new Error(`before revocation: ${before.status}`);
      await mtlsTpp.revoke(token);
      await sleep(1100); // the gateway caches an introspection answer for cache_max_s: 1
      return mtlsTpp.call(token, `${API}/cards/9`);
    });
    await step('GET /accounts/123 (tpp-dpop)', 'none: AS rotated its signing key', { status: 200, reason: 'OK' }, async () => {
      const oldKid = as.signingKeys[0].kid;
      const next = await as.rotateSigningKey('PS256');
      await sleep(1100); // the gateway refetches on an unknown kid at most once per jwks_refetch_cooldown_s: 1
      const token = await dpopTpp.clientCredentials({ resource: API, scope: 'accounts', dpop: dpopKey });
      const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
      if (kid !== next.kid) throw new Error('the AS did not sign with the new key');
      const answer = await dpopTpp.call(token, accounts, { dpop: dpopKey });
      return { answer, note: `(kid ${oldKid.slice(0, 6)}.. -> ${kid.slice(0, 6)}..)` };
    });

    console.log(table(rows));
    const bad = rows.filter((r) => !r.ok).length;
    console.log(
      bad === 0
        ? `\nall ${rows.length} answers as expected: bound tokens work, stolen, replayed, misdirected and revoked ones do not reach the legacy API.`
        : `\n${bad} of ${rows.length} answers NOT as expected (run with --verbose for the gateway log).`,
    );
    if (VERBOSE || bad > 0) {
      console.log('\ngateway log:');
      for (const l of logs) console.log(`  ${l}`);
    }
    process.exitCode = bad === 0 ? 0 : 1;
    if (SERVE) await serve({ c, gwPort, adminUrl, configFile, mtlsTpp, logs });
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
  }
}

/** Keeps the demo world up and shows how to call it with curl and the tpp-mtls client certificate. */
async function serve({ c, gwPort, adminUrl, configFile, mtlsTpp, logs }) {
  await writeFile(join(c.certs, 'tpp-mtls.crt'), c.tpp1.certPem);
  await writeFile(join(c.certs, 'tpp-mtls.key'), c.tpp1.keyPem, { mode: 0o600 });
  const token = await mtlsTpp.clientCredentials({ resource: API, scope: 'accounts' });
  const certs = c.certs;
  console.log(`
Serving until Ctrl-C (at most ${SERVE_MAX_MS / 60_000} minutes). Try it by hand, with tpp-mtls's certificate and an
mTLS-bound access token the AS just issued (valid a few minutes):

  curl --cacert ${certs}/ca.crt --cert ${certs}/tpp-mtls.crt --key ${certs}/tpp-mtls.key \\
       --connect-to api.bank.example:443:127.0.0.1:${gwPort} \\
       -H "Authorization: Bearer ${token}" \\
       https://api.bank.example/accounts/123

Then drop --cert/--key (401 invalid_token: the token is bound to that certificate), or the header (401
with the bare challenges). Each request's log line is printed below. The metrics:

  curl -s ${adminUrl}/metrics | grep '^fapi_gateway_requests_total'

The gateway's config is ${configFile} and its certificates are in ${certs}: copy them to start your own
(\`npx fapi-gateway check --config <your copy>\`).
`);
  let shown = logs.length;
  const tail = setInterval(() => {
    for (; shown < logs.length; shown++) console.log(`  ${logs[shown]}`);
  }, 200);
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, SERVE_MAX_MS);
    process.once('SIGINT', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  clearInterval(tail);
}

main().catch((e) => {
  console.error(`demo failed: ${e?.stack ?? e}`);
  process.exitCode = 1;
});
