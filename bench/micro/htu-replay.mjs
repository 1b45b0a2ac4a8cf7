// Two more per-request DPoP steps: the expected htu (normalised public origin + path) and the memory
// replay claim (a fresh key each time, as with real traffic).
import { expectedHtu } from '../../dist/binding/htu.js';
import { MemoryReplayStore } from '../../dist/replay/memory.js';

export default async function () {
  const store = new MemoryReplayStore({ maxEntries: 10_000_000 });
  let n = 0;
  const batch = 50;
  return [
    { name: 'DPoP htu: expectedHtu(origin, path)', batch, fn: () => { for (let i = 0; i < batch; i++) expectedHtu('https://api.test', '/dpop/accounts/123'); } },
    { name: 'replay: MemoryReplayStore.claim (new key)', batch, fn: async () => { for (let i = 0; i < batch; i++) await store.claim(`fapi:dpop:${n++}`, 320_000); } },
  ];
}
