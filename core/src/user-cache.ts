/**
 * The user's cache folder for pyrestserver: `$XDG_CACHE_HOME/pyrestserver/<name>` or
 * `~/.cache/pyrestserver/<name>`. What is kept there is code (compiled option validators,
 * Node's compiled-code cache), so a folder is used only when it belongs to this user and
 * nobody else can write to it. `PYRESTSERVER_NO_CACHE` (set to anything) turns all of it off.
 *
 * Its own module, exported as `@pyrestserver/core/user-cache`: the bin asks for a folder
 * before it loads anything else.
 */
import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * The folder `name` under the user's cache folder, made (mode 0700) when missing, as are
 * `pyrestserver/` and the cache folder itself (not their parents). Undefined
 * when caching is off, there is no home folder, or the folder cannot be made or is not
 * trusted: the caller then works without a cache.
 *
 * The levels are made one at a time: where mkdir answers ENOENT for a folder whose parent
 * exists (under /proc, say), a recursive mkdirSync() on Node 24 retries for ever.
 */
export function userCacheDir(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PYRESTSERVER_NO_CACHE) return undefined;
  let base = env.XDG_CACHE_HOME;
  if (!base || !path.isAbsolute(base)) {
    let home: string;
    try {
      home = homedir();
    } catch {
      return undefined;
    }
    if (!home || !path.isAbsolute(home)) return undefined;
    base = path.join(home, '.cache');
  }
  const ours = path.join(base, 'pyrestserver');
  const dir = path.join(ours, name);
  for (const level of [base, ours, dir]) {
    try {
      mkdirSync(level, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
    }
  }
  return trusted(dir) ? dir : undefined;
}

/** Ours (this uid) and writable by nobody else. */
export function trusted(file: string): boolean {
  try {
    const st = statSync(file);
    const uid = process.getuid?.();
    return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}
