/**
 * The repositories of a store: every folder under the root that holds a `config` file,
 * found by walking the folder tree through the listing cache (pagination included), a
 * bounded number of folders at a time, each folder listed once. A repository's own type
 * folders (`data`, `keys`, ...) are not entered: they hold restic's files, not
 * repositories. Folders whose name starts with a dot are skipped, as on disk.
 * Repositories are yielded as they are found, so the order is not fixed.
 */
import { BLOB_TYPES } from '@pyrestserver/core';
import { pick, type Children, type FolderId } from './entry.js';
import type { Listings } from './listings.js';

const TYPE_FOLDERS: ReadonlySet<string> = new Set(BLOB_TYPES);

interface Folder {
  /** Relative to the root, `/`-separated; `''` is the root. */
  readonly path: string;
  readonly id: FolderId;
}

interface Listed {
  readonly task: Promise<Listed>;
  readonly folder: Folder;
  readonly children: Children;
}

/** Repository paths under the folder `root`, with at most `concurrency` listings in flight. */
export async function* repositoriesUnder(
  listings: Pick<Listings, 'get'>,
  root: FolderId,
  concurrency: number,
): AsyncGenerator<string> {
  const waiting: Folder[] = [{ path: '', id: root }];
  const running = new Set<Promise<Listed>>();
  while (waiting.length > 0 || running.size > 0) {
    while (running.size < concurrency && waiting.length > 0) {
      const folder = waiting.shift()!;
      const task: Promise<Listed> = listings.get(folder.id).then((children) => ({ task, folder, children }));
      task.catch(() => undefined); // the first failure is thrown below; later ones must not go unhandled
      running.add(task);
    }
    const { task, folder, children } = await Promise.race(running);
    running.delete(task);
    const isRepository = pick(children.get('config'), 'file') !== undefined;
    if (isRepository) yield folder.path;
    for (const [name, group] of children) {
      if (name.startsWith('.') || (isRepository && TYPE_FOLDERS.has(name))) continue;
      const sub = pick(group, 'folder');
      if (sub) waiting.push({ path: folder.path === '' ? name : `${folder.path}/${name}`, id: sub.id });
    }
  }
}
