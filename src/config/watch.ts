// Watches the config file and the files it names (certificates, keys, CAs) for changes, including the
// symlink swap a Kubernetes ConfigMap or Secret volume does (the directory's `..data` link is
// replaced, the file paths themselves never change). A Secret that cert-manager renews is picked up
// like a config change: without this, the gateway would serve the old certificate until it expired.
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export const digest = (file: string): string | undefined => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
};

/**
 * Calls onChange (debounced) when the content of any of the files changes. A file that is missing for
 * a moment (mid-rotation) is not a change. Returns a stop function.
 */
export function watchFiles(files: readonly string[], onChange: () => void, debounceMs = 250): () => void {
  const paths = [...new Set(files.map((f) => resolve(f)))];
  let last = paths.map(digest);
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    timer = undefined;
    const now = paths.map(digest);
    const changed = now.some((d, i) => d !== undefined && d !== last[i]);
    last = now.map((d, i) => d ?? last[i]);
    if (changed) onChange();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    const names = new Set(paths.filter((p) => dirname(p) === dir).map((p) => basename(p)));
    const poke = (_event: string, name: string | Buffer | null): void => {
      const n = name?.toString();
      if (n !== undefined && !names.has(n) && !n.startsWith('..')) return;
      if (timer === undefined) timer = setTimeout(check, debounceMs);
    };
    try {
      const w = watch(dir, { persistent: false }, poke);
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // A directory that cannot be watched: the poll below still sees its files.
    }
  }
  // Some filesystems drop events: a slow poll is the safety net.
  const poll = setInterval(check, 5000).unref();
  return () => {
    for (const w of watchers) w.close();
    clearInterval(poll);
    if (timer !== undefined) clearTimeout(timer);
  };
}
