// Summarise a V8 .cpuprofile (node --cpu-prof): top functions by self time, and self time by area
// (gateway stage folder, npm package, Node internal module, GC). Idle time is left out of the percentages.
import { readFileSync } from 'node:fs';

function areaOf(url, name) {
  if (url === '') {
    if (name.startsWith('(')) return name;
    if (/^(writev|write(Latin1|Utf8|Ascii|Ucs2)?String|writeBuffer|readStart|shutdown)$/.test(name)) return 'native socket I/O (loopback syscalls)';
    if (/^(execute|consume|parse|finish)$/.test(name)) return 'native llhttp / JSON.parse';
    return 'native other';
  }
  const dist = /\/dist\/([^/]+)\//.exec(url) ?? /\/dist\/([^/]+)\.js$/.exec(url);
  if (dist && !url.includes('node_modules')) return `gateway ${dist[1]}`;
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return `npm ${mod[1]}`;
  if (url.startsWith('node:')) {
    const m = url.slice(5).replace(/^internal\//, '');
    if (/^(_http|http)/.test(m)) return 'node http';
    if (/^(tls|_tls|crypto|internal\/crypto)/.test(m) || m.startsWith('crypto')) return m.startsWith('crypto') ? 'node crypto' : 'node tls';
    if (/^(streams|stream|net|stream_base)/.test(m)) return 'node streams/net';
    if (/^(timers|process|async_hooks|event|events)/.test(m)) return 'node events/timers/async';
    return `node ${m.split('/')[0]}`;
  }
  return url;
}

export function summariseProfile(file, topN = 20, requests = 0) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const fns = new Map();
  const areas = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    total += us;
    const url = cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
    const key = `${name}\u0000${url}:${cf.lineNumber + 1}`;
    const f = fns.get(key) ?? { name, where: url === '' ? '' : `${url}:${cf.lineNumber + 1}`, us: 0 };
    f.us += us;
    fns.set(key, f);
    const a = areaOf(cf.url, name);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const top = [...fns.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, pct: (100 * f.us) / total, perReq: requests > 0 ? f.us / requests : undefined }));
  // Inclusive time per function (each function counted once per stack), for the gateway's own code and
  // the npm packages it calls, to attribute cost to pipeline stages.
  const incl = new Map();
  const stack = [];
  const visit = (id) => {
    const n = byId.get(id);
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'}\u0000${cf.url}:${cf.lineNumber + 1}`;
    let total = self.get(id) ?? 0;
    stack.push(key);
    for (const c of n.children ?? []) total += visit(c);
    stack.pop();
    if (!stack.includes(key) && /\/(dist|node_modules)\//.test(cf.url)) {
      const url = cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
      const e = incl.get(key) ?? { name: cf.functionName || '(anonymous)', where: `${url}:${cf.lineNumber + 1}`, us: 0 };
      e.us += total;
      incl.set(key, e);
    }
    return total;
  };
  visit(p.nodes[0].id);
  const inclusive = [...incl.values()]
    .filter((e) => e.name !== '(anonymous)')
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: (100 * e.us) / total, perReq: requests > 0 ? e.us / requests : undefined }));
  const areaList = [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, (100 * v) / total, requests > 0 ? v / requests : undefined]);
  return { totalMs: total / 1000, top, inclusive, areas: areaList };
}

if (import.meta.main) {
  const s = summariseProfile(process.argv[2], Number(process.argv[3] ?? 30));
  console.log(`total sampled (non-idle): ${s.totalMs.toFixed(0)} ms`);
  for (const f of s.top) console.log(`${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`);
  console.log('\ninclusive (dist/ and node_modules/):');
  for (const f of s.inclusive) console.log(`${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`);
  console.log('\nby area:');
  for (const [k, v] of s.areas) console.log(`${v.toFixed(1).padStart(5)}%  ${k}`);
}
