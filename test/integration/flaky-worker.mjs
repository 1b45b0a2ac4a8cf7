// Forks 1..2 start and report ready; any later fork (a replacement) fails to start (e.g. the config
// file on disk was since edited into one that does not load: the running workers refused that reload).
import cluster from 'node:cluster';
if (cluster.worker.id <= 2) {
  process.send({ type: 'ready', why: undefined });
  setInterval(() => process.send({ type: 'ready', why: undefined }), 500);
  process.on('message', (m) => m.type === 'stop' && process.exit(0));
} else {
  process.exit(1);
}
