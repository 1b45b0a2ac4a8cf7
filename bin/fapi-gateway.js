#!/usr/bin/env node
// Before anything else loads: on an older Node the gateway would fail later and less clearly.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(`fapi-gateway: Node.js >= 22.12 is required; this is ${process.version}\n`);
  process.exit(1);
}
await import('../dist/cli.js');
