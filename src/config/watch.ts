// Watches a config file for changes, including the symlink swap a Kubernetes ConfigMap volume does
// (the directory's `..data` link is replaced, the file path itself never changes).
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const digest = (file: string): string | undefined => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
};

/** Calls onChange (debounced) when the file's content changes. Returns a stop function. */
export function watchConfig(file: string, onChange: () => void, debounceMs = 250): () => void {
  const path = resolve(file);
  let last = digest(path);
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    timer = undefined;
    const now = digest(path);
    if (now !== undefined && now !== last) {
      last = now;
      onChange();
    }
  };
  const poke = (_event: string, name: string | Buffer | null): void => {
    const n = name?.toString();
    if (n !== undefined && n !== basename(path) && !n.startsWith('..')) return;
    if (timer === undefined) timer = setTimeout(check, debounceMs);
  };
  const watcher: FSWatcher = watch(dirname(path), { persistent: false }, poke);
  watcher.on('error', () => undefined);
  // Some filesystems drop events: a slow poll is the safety net.
  const poll = setInterval(check, 5000).unref();
  return () => {
    watcher.close();
    clearInterval(poll);
    if (timer !== undefined) clearTimeout(timer);
  };
}
