// Found in review; failed on the code before its fix. What the bug was:
// README routes[]: "upstream.connect_timeout_ms: No connection in time: 502" and "timeout_ms: No
// response in time: 504". The forwarder classifies any error that arrives after timeout_ms as a timeout
// (performance.now() - started >= timeoutMs), so with connect_timeout_ms > timeout_ms (the defaults
// are 5000 / 30000, but timeout_ms: 2000 with the default connect timeout is an ordinary config) a
// connection that never completes is answered 504 instead of 502.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

describe('connect timeout status', () => {
  it('connect_timeout_ms expires (timeout_ms shorter) -> 502 bad_gateway, not 504', async () => {
    // A listener that never accepts, its queue filled: the kernel drops further SYNs, so connect hangs.
    const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(20)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const fillers: Socket[] = [];
    try {
      const port = Number(await new Promise<string>((r) => py.stdout.once('data', (d: Buffer) => r(d.toString().trim()))));
      for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
      await new Promise((r) => setTimeout(r, 200));
      const h = await startHarness({
        routes: [{ id: 'slow', match: { methods: ['GET'], path_prefix: '/' }, auth: { binding: 'mtls' }, upstream: { url: `http://127.0.0.1:${port}`, connect_timeout_ms: 900, timeout_ms: 300 } }],
      });
      try {
        const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
        const r = await h.call('/a', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
        expect(r.status).toBe(502);
      } finally {
        await h.close();
      }
    } finally {
      for (const f of fillers) f.destroy();
      py.kill();
    }
  }, 15_000);
});
