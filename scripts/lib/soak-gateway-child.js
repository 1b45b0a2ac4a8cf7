// The gateway, from src/, in a child process of the soak (and of the crash tests), with an IPC channel:
//   parent -> child: { type: 'sample' | 'gc' | 'close', id }
//   child -> parent: { type: 'ready', port, admin, pid } once listening; { type: 'reply', id, sample } per message
// A sample is process.memoryUsage(), the open file descriptors (/proc/self/fd), active handles and, when the
// replay store is the memory one, its entry count (read-only peek for the report).
// Started by soak-world.js as:
//   node --expose-gc --experimental-transform-types --import ./ts-source-hooks.js soak-gateway-child.js <config> [<log file>]
// Unhandled rejections keep Node's default (the process dies), exactly as under bin/fapi-gateway.js.
import { readdirSync } from 'node:fs';

const [configPath, logPath] = process.argv.slice(2);
if (configPath === undefined || process.send === undefined) {
  process.stderr.write('usage: (forked with IPC) soak-gateway-child.js <config.yaml> [<log file>]\n');
  process.exit(2);
}
const { loadConfigFile } = await import('../../src/config/load.ts');
const { startGateway } = await import('../../src/main.ts');
const { pino } = await import('pino');

const destination = logPath === undefined ? undefined : pino.destination({ dest: logPath, sync: false, mkdir: true });
const gw = await startGateway(loadConfigFile(configPath), { logDestination: destination });

function fdCount() {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

function sample() {
  const m = process.memoryUsage();
  // Read-only peek at the memory replay store (a private field at the type level only).
  const store = gw.gateway?.pipeline?.replay;
  return {
    at: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    fds: fdCount(),
    handles: process.getActiveResourcesInfo().length,
    replayEntries: typeof store?.size === 'number' ? store.size : null,
    gcAvailable: typeof globalThis.gc === 'function',
  };
}

process.on('message', (msg) => {
  const reply = (extra = {}) => process.send?.({ type: 'reply', id: msg.id, sample: sample(), ...extra });
  if (msg.type === 'sample') reply();
  else if (msg.type === 'gc') {
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    reply({ gc: typeof globalThis.gc === 'function' });
  } else if (msg.type === 'close') {
    gw.close(Number(msg.deadlineMs ?? 2000)).then(
      () => {
        try {
          destination?.flushSync?.();
        } catch {
          // nothing buffered, or the file is gone: the logs are best effort here
        }
        reply();
        setTimeout(() => process.exit(0), 20);
      },
      () => process.exit(1),
    );
  }
});
// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0));
// Ready as a load balancer sees it: /readyz would say 200 (keys fetched, the replay store accepting).
for (let i = 0; i < 150 && (await gw.notReady()) !== undefined; i++) await new Promise((r) => setTimeout(r, 100));
process.send({ type: 'ready', port: gw.apiAddress.port, admin: gw.adminAddress?.port, pid: process.pid });
