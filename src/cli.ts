// fapi-gateway [run] --config <file> | check --config <file> | schema
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { runPrimary, runWorker, withPrimarySettings, workerCount, type PrimaryLog } from './cluster.js';
import { ConfigError, loadConfigFile, readCaFile, referencedFiles, type LoadedConfig } from './config/load.js';
import { configSchema } from './config/schema.js';
import { digest, watchFiles } from './config/watch.js';
import { clientTrust } from './listen/client-chain.js';
import { tlsOptions } from './listen/tls-options.js';
import { publishable } from './metadata/protected-resource.js';
import { startGateway } from './main.js';
import { compileRouteTable, unboundNeighbours } from './route/table.js';
import { compileClientKeys } from './signature/client-keys.js';
import { buildResponseSigner } from './signature/response-signer.js';
import { clientAuthFor } from './token/token-validator.js';
import type { Route } from './types.js';

const USAGE = `usage:
  fapi-gateway [run] --config <file>   start the gateway
  fapi-gateway check --config <file>   validate a config and print the compiled route table (exit 0/1)
  fapi-gateway schema                  print the config JSON Schema
  fapi-gateway --version               print the version
`;

/**
 * `check`: the TLS and introspection files, read and checked as the start reads them (a key that does
 * not belong to its certificate, a weak key, an unreadable client key). A file that is not on this
 * machine is a note, not a failure: a CI job checks the config without the Secrets mounted.
 */
function checkFiles(loaded: LoadedConfig): string[] {
  const here = (p: string | undefined): boolean => p === undefined || existsSync(resolve(loaded.baseDir, p));
  const t = loaded.config.server.tls;
  if (here(t.cert_file) && here(t.key_file) && here(t.client_ca_file)) {
    // As the listener loads them: every certificate of the chain, and the client CAs one by one.
    createSecureContext(tlsOptions(loaded));
    clientTrust(loaded);
  }
  const caBundle = (file: string | undefined, setting: string): void => {
    if (file === undefined || !here(file)) return;
    const pem = readCaFile(loaded, file, setting);
    try {
      createSecureContext({ ca: pem });
    } catch (e) {
      throw new Error(`${setting} ${file}: not PEM certificates (${(e as Error).message})`);
    }
  };
  for (const [name, cfg] of Object.entries(loaded.config.issuers)) {
    caBundle(cfg.ca_file, `issuers.${name}.ca_file`);
    const i = cfg.introspection;
    if (i !== undefined && here(i.private_key_file) && here(i.cert_file) && here(i.key_file)) clientAuthFor(name, cfg, loaded);
  }
  // As the start reads it: only for the Redis store (a memory store ignores a prepared redis section).
  if (loaded.config.replay.store === 'redis') caBundle(loaded.config.replay.redis?.ca_file, 'replay.redis.ca_file');
  // SIG-2, SIG-8: the clients' keys and the gateway's signing keys, as the start compiles them.
  const sig = loaded.config.http_signatures;
  if (sig !== undefined) {
    if (Object.values(sig.clients).every((c) => here(c.jwks_file))) compileClientKeys(loaded);
    caBundle(sig.client_jwks.ca_file, 'http_signatures.client_jwks.ca_file');
    if (sig.response_signing?.keys.every((k) => here(k.key_file)) === true) buildResponseSigner(loaded);
  }
  const missing = referencedFiles(loaded).filter((f) => !existsSync(f));
  return missing.length === 0 ? [] : [`not found here, so not checked (the gateway will not start without them): ${missing.join(', ')}`];
}

/** `check`: what is valid but probably not meant, said once per route. */
function routeNotes(loaded: LoadedConfig, routes: readonly Route[]): string[] {
  const c = loaded.config;
  const notes = c.routes
    .filter((r) => r.upstream.preserve_host && r.match.host === undefined)
    .map((r) => `route ${r.id}: upstream.preserve_host without match.host sends the upstream any Host a client chooses (a name-based upstream may route it to another site)`);
  // SIG-9: without RFC 9728 metadata no jwks_uri is published; clients need the JWKS URL some other way.
  const signing = c.routes.filter((r) => r.sign_responses).map((r) => r.id);
  const jwksPath = c.http_signatures?.response_signing?.jwks_path;
  if (signing.length > 0 && jwksPath !== undefined && c.resource_metadata === undefined) {
    notes.push(`routes ${signing.join(', ')} sign responses, and without resource_metadata no jwks_uri is published: tell clients the keys are at ${new URL(jwksPath, c.server.public_origin).href}`);
  }
  if (c.resource_metadata !== undefined) {
    for (const same of publishable(routes.map((r) => r.audience), c.server.public_origin).clashing) {
      notes.push(`audiences ${same.map((a) => JSON.stringify(a)).join(' and ')} share one metadata URL, and a document there could name only one of them (PRM-2): neither is published; write them alike`);
    }
  }
  if (c.server.tls.client_certificate === 'required' && c.resource_metadata?.without_client_certificate === true) {
    notes.push(
      'tls.client_certificate: required, with resource_metadata served to clients without a certificate (PRM-6): every handshake completes, and API requests without a trusted certificate get 403 and a closed connection; resource_metadata.without_client_certificate: false refuses them at the handshake instead',
    );
  }
  for (const [bound, other] of unboundNeighbours(routes)) {
    notes.push(
      `route ${other.id} (${[...other.methods].join(',')}) shares paths with route ${bound.id}, which binds resources, and binds none: an upstream that takes a method override from the body (_method in a form) could serve ${bound.id}'s resources through it; give it a resource_binding too, or make the paths disjoint`,
    );
  }
  return notes;
}

/** Exit status of a process ended by an exception nothing handled (EX_SOFTWARE). */
const DEFECT_EXIT = 70;

/**
 * An exception (or a rejection) no code path handled is a defect, and the process state is unknown:
 * one fatal line where the log pipeline looks, not a bare stack on stderr, then exit at once without a
 * drain (Kubernetes, or the cluster primary, starts a new one). Names and stack frames only: no values.
 */
function exitOnDefect(write: (fields: object) => void): void {
  process.on('uncaughtException', (e, origin) => {
    const err = e instanceof Error ? e : new Error(`non-Error thrown: ${typeof e}`);
    const stack = (err.stack ?? '').split('\n').slice(1, 9).map((l) => l.trim());
    write({ origin, detail: `${err.name}: ${err.message}`.slice(0, 300), stack: stack.join(' | ').slice(0, 2000) });
    process.exit(DEFECT_EXIT);
  });
}

/** TOK-8: where the path's resource must be granted (`rar:<type>.<field>`, `scope:<prefix>`), or `-`. */
function boundBy(r: Route): string {
  const b = r.resourceBinding;
  if (b === undefined) return '-';
  const from = [...b.details.map((d) => `rar:${d.type}.${d.path.join('.')}`), ...(b.scopePrefix === undefined ? [] : [`scope:${b.scopePrefix}`])];
  const where = [...(b.prefix === undefined ? [] : ['path']), ...(b.queryParam === undefined ? [] : [`?${b.queryParam.name}`])];
  return `${where.join('+')}:${from.join('|')}`;
}

/** The upstream without its query's values: a fixed query may hold the key the legacy API expects. */
function upstreamShown(u: URL): string {
  if (u.search === '') return u.href;
  const names = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=...`);
  return `${u.origin}${u.pathname}?${names.join('&')}`;
}

export function formatRouteTable(routes: readonly Route[]): string {
  const rows = routes.map((r) => [
    r.id,
    [...r.methods].join(','),
    r.host ?? '*',
    r.exactPath ?? `${r.pathPrefix}/**`.replace('//**', '/**'),
    r.binding,
    r.issuers.join(','),
    r.audience,
    [r.scopes.allOf.length ? `all:${r.scopes.allOf.join(' ')}` : '', r.scopes.anyOf.length ? `any:${r.scopes.anyOf.join(' ')}` : '']
      .filter(Boolean)
      .join('; ') || '-',
    boundBy(r),
    [r.signedRequests ? 'requests' : '', r.signResponses ? 'responses' : ''].filter(Boolean).join('+') || '-',
    upstreamShown(r.upstream.url),
  ]);
  const head = ['ROUTE', 'METHODS', 'HOST', 'PATH', 'BINDING', 'ISSUERS', 'AUDIENCE', 'SCOPES', 'RESOURCE', 'SIGNED', 'UPSTREAM'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

/**
 * Watches the config file and every file the given configs name; `onChange` reloads. Re-armed after a
 * reload, since a new config can name other files: with the serving config's files and, after a refusal,
 * the refused one's too (a Secret it names may appear later).
 */
function watchConfigAndFiles(
  file: string,
  loaded: LoadedConfig,
  onChange: () => void,
): { stop(): void; rearm(...configs: LoadedConfig[]): void; add(config: LoadedConfig): void } {
  let names = referencedFiles(loaded).sort();
  let stop = watchFiles([file, ...names], onChange);
  const watch = (next: string[]): void => {
    if (next.join('\n') === names.join('\n')) return;
    stop();
    names = next;
    stop = watchFiles([file, ...names], onChange);
  };
  return {
    stop: () => stop(),
    rearm: (...configs) => watch([...new Set(configs.flatMap(referencedFiles))].sort()),
    // Kept as well as what is watched already: for a watcher that cannot tell which config serves.
    add: (config) => watch([...new Set([...names, ...referencedFiles(config)])].sort()),
  };
}

const ignoreSignal = (): void => undefined;

/** What the files a config names held when it was applied: a later change is a renewal to pick up. */
const filesState = (loaded: LoadedConfig): string => referencedFiles(loaded).map((f) => `${f}=${digest(f) ?? '-'}`).join('\n');

async function main(argv: string[]): Promise<number> {
  // SIGHUP's default ends the process: until the reload handlers are in place (a worker's or the
  // primary's start), a SIGHUP to the process group (a reload) must not kill a gateway still starting.
  process.on('SIGHUP', ignoreSignal);
  const command = argv[0] !== undefined && !argv[0].startsWith('-') ? argv.shift() : 'run';
  let values: { config?: string; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } }));
  } catch (e) {
    process.stderr.write(`fapi-gateway: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    // package.json sits beside dist/ in the repository and in the image.
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`fapi-gateway ${version} (Node.js ${process.version})\n`);
    return 0;
  }
  if (command === 'schema') {
    process.stdout.write(`${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2)}\n`);
    return 0;
  }
  if (values.config === undefined || (command !== 'run' && command !== 'check')) {
    process.stderr.write(USAGE);
    return 1;
  }
  try {
    // A worker (a replacement, maybe after the file was edited): the primary's restart-only settings.
    const { loaded, differs } = cluster.isWorker ? withPrimarySettings(loadConfigFile(values.config)) : { loaded: loadConfigFile(values.config), differs: [] };
    // check: an upstream.ca_file that is not on this machine is a note (below), as for every file.
    const table = compileRouteTable(loaded, { missingFilesOk: command === 'check' });
    if (command === 'check') {
      const notes = [...routeNotes(loaded, table.routes), ...checkFiles(loaded)];
      process.stdout.write(`config ${values.config} is valid\n\n${formatRouteTable(table.routes)}\n${notes.map((n) => `\nnote: ${n}`).join('')}${notes.length > 0 ? '\n' : ''}`);
      return 0;
    }
    const file = values.config;
    if (cluster.isPrimary && workerCount(loaded) > 1) {
      const log: PrimaryLog = (msg, extra = {}, level = 'info') =>
        void process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), service: 'fapi-gateway', role: 'primary', ...extra, msg })}\n`);
      // A worker that cannot start: the others are stopped, and the start failed (as in one process).
      const primary = await runPrimary(loaded, log, () => process.exit(1));
      exitOnDefect((fields) => log('uncaught exception; exiting', fields, 'fatal'));
      const watching = watchConfigAndFiles(file, loaded, () => {
        primary.reload();
        try {
          // The workers may refuse it and keep serving an earlier one: the primary cannot tell which,
          // so it keeps watching the files of every config it has seen (a renewal must reach them).
          watching.add(loadConfigFile(file));
        } catch {
          // The workers refuse it too and say why; keep watching the files named by the last good one.
        }
      });
      const stopWatching = (): void => watching.stop();
      process.on('SIGHUP', () => primary.reload());
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) process.exit(1);
        stopping = true;
        stopWatching();
        log('draining', { signal });
        // 1: a worker did not stop by the deadline and was killed (its requests may have been cut).
        primary.stop().then((clean) => process.exit(clean ? 0 : 1));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      return -1;
    }
    const running = cluster.isWorker ? await runWorker(loaded) : await startGateway(loaded);
    exitOnDefect((fields) => running.logger.fatal(fields, 'uncaught exception; exiting'));
    if (differs.length > 0) running.logger.info({ needs_restart: differs }, 'config file differs from the running cluster; started with its settings');
    let serving = { loaded, files: filesState(loaded) };
    // The config file on disk was refused, but files the serving config names may have changed since it
    // was applied (cert-manager renewed the Secret): apply them, or the old certificate serves until it expires.
    const refreshServing = (): void => {
      if (filesState(serving.loaded) === serving.files) return;
      running.logger.info({ source: serving.loaded.source }, 'files named by the serving config changed; reloading it with them');
      try {
        running.reload(serving.loaded);
        serving = { loaded: serving.loaded, files: filesState(serving.loaded) };
      } catch {
        // Logged and counted by reload(); tried again at the next change.
      }
    };
    const reload = (why: string): void => {
      running.logger.info({ why }, 'reloading config');
      let next;
      try {
        next = loadConfigFile(file);
      } catch (e) {
        running.metrics.configReloads.inc({ result: 'error' });
        running.logger.error({ source: file, detail: (e as Error).message }, 'config reload refused; the previous config keeps serving');
        refreshServing();
        return;
      }
      const files = filesState(next);
      try {
        running.reload(next);
      } catch {
        // Logged and counted by reload(); the previous config keeps serving. The files the refused one
        // names are watched too, so it is retried when one that was missing appears (a Secret after a
        // ConfigMap).
        watching?.rearm(serving.loaded, next);
        refreshServing();
        return;
      }
      serving = { loaded: next, files };
      watching?.rearm(next);
    };
    // A worker reloads when its primary says so; a single process watches the files itself.
    const watching = cluster.isWorker ? undefined : watchConfigAndFiles(file, loaded, () => reload('file changed'));
    const stopWatching = (): void => watching?.stop();
    let stopping = false;
    let signals = 0;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      stopWatching();
      running.logger.info({ signal: why }, 'draining');
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    // The second signal this process receives ends it at once. A worker may also get a stop from its
    // primary, before or after the process group's own signal (systemd, Ctrl-C): that one never counts.
    const onSignal = (signal: string): void => {
      if (++signals > 1) {
        running.logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stop(signal);
    };
    if (cluster.isWorker) {
      process.on('message', (m: { type?: string }) => {
        if (m.type === 'reload') reload('primary');
        else if (m.type === 'stop') stop('primary');
      });
      // A SIGHUP to the process group: the primary passes the reload on; by default it would kill the worker.
      process.on('SIGHUP', () => undefined);
    } else process.on('SIGHUP', () => reload('SIGHUP'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    return -1;
  } catch (e) {
    process.stderr.write(`${e instanceof ConfigError ? e.message : `fapi-gateway: ${(e as Error).message}`}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  // A failed start exits now: whatever it had opened (a Redis client, a listener) must not keep a
  // half-started gateway alive.
  if (code > 0) process.exit(code);
  if (code === 0) process.exitCode = 0;
});
