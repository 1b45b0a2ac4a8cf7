// The admin listener (plain HTTP, not exposed with the API): /livez, /readyz, /metrics.
import { createServer, type Server } from 'node:http';

export interface AdminHooks {
  /** Prometheus text exposition: one registry, or a cluster's aggregate. */
  readonly metrics: { metrics(): Promise<string>; readonly contentType: string };
  /** undefined when ready, else the reason. */
  readonly notReady: () => Promise<string | undefined>;
}

export function createAdminServer(hooks: AdminHooks): Server {
  return createServer((req, res) => {
    // HEAD answers as GET does (load balancers probe with it); Node leaves the body out.
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...(status === 405 ? { allow: 'GET, HEAD' } : {}) }).end(body);
    };
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/livez') return send(200, 'ok\n');
    if (path === '/readyz') {
      hooks.notReady().then(
        (why) => (why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`)),
        (e: unknown) => send(503, `not ready: ${(e as Error).message}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      hooks.metrics.metrics().then(
        (text) => send(200, text, hooks.metrics.contentType),
        () => send(500, 'metrics unavailable\n'),
      );
      return;
    }
    send(404, 'not found\n');
  });
}
