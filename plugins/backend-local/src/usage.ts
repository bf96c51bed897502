/**
 * Every file stored under the data folder, for quotas counted at start (as rest-server
 * counts: every file below --path, whether or not its folder holds a repository `config`).
 * Symbolic links are not followed; temporary upload files are left out (those a crash
 * left behind are swept at start).
 */
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import { isMissing } from './fs-errors.js';
import { isTempName } from './temp-files.js';

export async function* storedFilesUnder(root: string, rel = ''): AsyncGenerator<{ path: string; size: number }> {
  let dir;
  try {
    dir = await opendir(path.join(root, ...rel.split('/').filter(Boolean)));
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  for await (const entry of dir) {
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) yield* storedFilesUnder(root, child);
    else if (entry.isFile() && !isTempName(entry.name)) {
      const st = await lstat(path.join(root, ...child.split('/'))).catch((err: unknown) => {
        if (isMissing(err)) return undefined; // deleted meanwhile
        throw err;
      });
      if (st) yield { path: child, size: st.size };
    }
  }
}
