// The load generator: a lean keep-alive HTTP/1.1 client over node:tls (or node:net for the plain-HTTP
// ceiling). N connections, each doing request/response in sequence (closed loop), with requests
// serialised before the clock starts: DPoP proofs are all signed in the prepare phase, so nothing is
// signed while measuring. Parses only the status line, Content-Length or chunked framing.
//
// IPC protocol with the orchestrator:
//   <- {type:'init', target, connections, request}   -> {type:'connected', prepMs, prepared}
//   <- {type:'go', durationMs}                        -> {type:'done', ...results}
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeProofs } from './proofs.mjs';

const HARD_LIMIT_MS = 120_000;
const DRAIN_MS = 5_000;
const SAMPLES = 3;

setTimeout(() => {
  process.stderr.write('loadgen: hard time limit reached, exiting\n');
  process.exit(2);
}, HARD_LIMIT_MS).unref();
process.on('disconnect', () => process.exit(0));

function prepare(request) {
  if (request.kind === 'fixed') {
    const buf = Buffer.from(request.text, 'latin1');
    return { next: () => buf, count: Infinity };
  }
  // kind: 'dpop': head + proof + tail, one buffer per request.
  const proofs = makeProofs(request.proof, request.count);
  const bufs = proofs.map((p) => Buffer.from(request.head + p + request.tail, 'latin1'));
  let i = 0;
  return { next: () => (i < bufs.length ? bufs[i++] : undefined), count: bufs.length, used: () => i };
}

const CL = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*[^\r]*chunked/i;
const CLOSE = /\r\nconnection:[ \t]*close/i;

/** Byte length of a complete chunked body starting at `from`, or -1 if incomplete. */
function chunkedEnd(buf, from) {
  let i = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', i, 'latin1');
    if (eol === -1) return -1;
    const size = parseInt(buf.toString('latin1', i, eol), 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', eol, 'latin1');
      return end === -1 ? -1 : end + 4;
    }
    i = eol + 2 + size + 2;
    if (i > buf.length) return -1;
  }
}

let state;

function run(init) {
  const t0 = performance.now();
  const supply = prepare(init.request);
  const prepMs = performance.now() - t0;
  const { target } = init;
  const conns = [];
  const results = {
    completed: 0,
    inWindow: 0,
    statuses: {},
    non2xx: 0,
    errors: 0,
    reconnects: 0,
    samples: [],
    exhausted: false,
  };
  // Optional pacing (init.rate req/s over all connections): a shared schedule, so the server runs below
  // saturation at a known rate (CPU per request compared at equal rates).
  const interval = init.rate > 0 ? 1000 / init.rate : 0;
  let nextAt = 0;
  let lat = new Float64Array(1 << 16);
  let nLat = 0;
  let started = 0;
  let deadline = Infinity;
  let going = false;
  let finished = false;
  let active = 0;

  const record = (ms) => {
    if (nLat === lat.length) {
      const n = new Float64Array(lat.length * 2);
      n.set(lat);
      lat = n;
    }
    lat[nLat++] = ms;
  };

  const open = (c) =>
    new Promise((resolve, reject) => {
      const opts = { host: target.host, port: target.port };
      const s = target.tls
        ? tlsConnect({ ...opts, ca: target.ca, servername: target.servername, cert: target.cert, key: target.key, ALPNProtocols: ['http/1.1'] }, () =>
            resolve(s),
          )
        : netConnect(opts, () => resolve(s));
      s.setNoDelay(true);
      c.socket = s;
      c.buf = null;
      c.headEnd = -1;
      s.on('data', (chunk) => onData(c, chunk));
      s.on('error', (e) => {
        c.error = e;
      });
      s.on('close', () => onClose(c));
      s.once('error', reject);
    });

  function send(c) {
    if (finished) return;
    const now = performance.now();
    if (!going || now >= deadline) return idle(c);
    if (interval > 0) {
      if (nextAt > now) {
        c.busy = false;
        setTimeout(() => send(c), nextAt - now);
        return;
      }
      nextAt = Math.max(nextAt, now - 5 * interval) + interval;
    }
    const req = supply.next();
    if (req === undefined) {
      if (!results.exhausted) {
        results.exhausted = true;
        deadline = Math.min(deadline, now);
      }
      return idle(c);
    }
    c.busy = true;
    c.sentAt = now;
    c.socket.write(req);
  }

  function idle(c) {
    if (c.idle) return;
    c.idle = true;
    c.busy = false;
    active--;
    if (active === 0) finish();
  }

  function onData(c, chunk) {
    c.buf = c.buf === null ? chunk : Buffer.concat([c.buf, chunk]);
    const buf = c.buf;
    if (c.headEnd === -1) {
      const i = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (i === -1) return;
      c.headEnd = i + 4;
      const head = buf.toString('latin1', 0, i);
      c.status = Number(head.slice(9, 12));
      const m = CL.exec(head);
      c.chunked = m === null && CHUNKED.test(head);
      c.bodyLen = m === null ? 0 : Number(m[1]);
      c.close = CLOSE.test(head);
      c.head = head;
    }
    let end;
    if (c.chunked) {
      end = chunkedEnd(buf, c.headEnd);
      if (end === -1) return;
    } else {
      end = c.headEnd + c.bodyLen;
      if (buf.length < end) return;
    }
    const now = performance.now();
    const status = c.status;
    results.completed++;
    results.statuses[status] = (results.statuses[status] ?? 0) + 1;
    if (status < 200 || status >= 300) {
      results.non2xx++;
      if (results.samples.length < SAMPLES) results.samples.push(`${c.head.split('\r\n')[0]} ${buf.toString('utf8', c.headEnd, Math.min(end, c.headEnd + 300))}`);
    }
    if (now <= deadline) {
      results.inWindow++;
      record(now - c.sentAt);
    }
    c.buf = null;
    c.headEnd = -1;
    c.busy = false;
    if (c.close) {
      c.reopen = true;
      c.socket.end();
      return;
    }
    send(c);
  }

  function onClose(c) {
    if (finished) return;
    if (c.busy) {
      results.errors++;
      if (results.samples.length < SAMPLES) results.samples.push(`connection closed mid-request: ${c.error?.message ?? 'closed'}`);
    }
    if (c.idle) return;
    if (!going || performance.now() >= deadline) return idle(c);
    results.reconnects++;
    c.busy = false;
    open(c).then(
      () => send(c),
      (e) => {
        results.errors++;
        if (results.samples.length < SAMPLES) results.samples.push(`reconnect failed: ${e.message}`);
        idle(c);
      },
    );
  }

  function finish() {
    if (finished) return;
    finished = true;
    const end = Math.min(deadline, performance.now());
    const sorted = lat.subarray(0, nLat).sort();
    const pct = (p) => (nLat === 0 ? NaN : sorted[Math.min(nLat - 1, Math.floor((p / 100) * nLat))]);
    const cpu = process.cpuUsage(state.cpu0);
    for (const c of conns) c.socket.destroy();
    process.send({
      type: 'done',
      ...results,
      elapsedMs: end - started,
      rps: (results.inWindow * 1000) / (end - started),
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      max: nLat === 0 ? NaN : sorted[nLat - 1],
      mean: nLat === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / nLat,
      loadgenCpuMicros: cpu.user + cpu.system,
      proofsUsed: supply.used?.(),
      proofsPrepared: supply.count === Infinity ? undefined : supply.count,
    });
    // Stay alive until told to stop: the orchestrator reads this process's CPU after the window.
  }

  state = {
    async connect() {
      for (let i = 0; i < init.connections; i++) conns.push({ busy: false, idle: false });
      await Promise.all(conns.map(open));
      return { prepMs, prepared: supply.count === Infinity ? undefined : supply.count };
    },
    go(durationMs) {
      state.cpu0 = process.cpuUsage();
      started = performance.now();
      deadline = started + durationMs;
      nextAt = started;
      going = true;
      active = conns.length;
      for (const c of conns) send(c);
      setTimeout(() => {
        // Stragglers after the deadline get DRAIN_MS to answer, then count as errors.
        for (const c of conns) {
          if (c.busy) {
            results.errors++;
            if (results.samples.length < SAMPLES) results.samples.push('no answer within the drain time');
          }
        }
        finish();
      }, durationMs + DRAIN_MS).unref();
    },
  };
}

process.on('message', async (m) => {
  try {
    if (m.type === 'init') {
      run(m);
      const info = await state.connect();
      process.send({ type: 'connected', ...info });
    } else if (m.type === 'go') {
      state.go(m.durationMs);
    } else if (m.type === 'stop') {
      process.exit(0);
    }
  } catch (e) {
    process.send({ type: 'error', message: e.message });
    process.exit(1);
  }
});
process.send({ type: 'ready' });
