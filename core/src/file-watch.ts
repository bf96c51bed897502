import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Call `onChange` (debounced) when any of `files` changes, including when a new file is
 * renamed into place (certbot, acme.sh, editors) or a Kubernetes secret swaps its `..data`
 * link: each file's folder is watched, not the file's inode. Returns the stop function.
 * Watch failures go to `onError`; the caller still has its manual reload (SIGHUP).
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  onError: (err: Error, folder: string) => void,
  debounceMs = 300,
): () => void {
  const byFolder = new Map<string, Set<string>>();
  for (const file of files) {
    const names = byFolder.get(dirname(file)) ?? new Set<string>();
    names.add(basename(file));
    byFolder.set(dirname(file), names);
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [folder, names] of byFolder) {
    try {
      const watcher = watch(folder, { persistent: false }, (_event, name) => {
        const changed = name?.toString();
        if (changed !== undefined && !names.has(changed) && !changed.startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
        timer.unref();
      });
      watcher.on('error', (err) => onError(err, folder));
      watchers.push(watcher);
    } catch (err) {
      onError(err as Error, folder);
    }
  }
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
