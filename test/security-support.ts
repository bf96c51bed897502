// Shared by the security-restic*.test.ts files: a small source tree in a temp folder,
// restic runs that must succeed, and a backup + restore round trip.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { restic, type ResticOptions } from './support/restic.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree } from './support/tree.js';

const SMALL_TREE = [
  { path: 'a.bin', size: 10_000 },
  { path: 'dir/b.bin', size: 200_000 },
  { path: 'dir/sub/c.bin', size: 1_000_000 },
];

/** A temp work folder with `source/` (a small tree), made before and removed after the file's tests. */
export function useWorkFolder(): { readonly work: string; readonly source: string } {
  const paths = { work: '', source: '' };
  before(async () => {
    paths.work = await tempDir('pyrs-sec-restic-');
    paths.source = join(paths.work, 'source');
    await makeTree(paths.source, { files: SMALL_TREE, emptyDirs: [] });
  });
  after(() => removeDir(paths.work));
  return paths;
}

/** `restic` that must succeed; its stderr is the failure message otherwise. */
export async function ok(args: string[], options: ResticOptions) {
  const result = await restic(args, options);
  assert.equal(result.code, 0, `restic ${args.join(' ')} failed:\n${result.stderr}`);
  return result;
}

/** Init, back up `source`, restore the latest snapshot into `target` and compare the trees byte for byte. */
export async function backupAndRestore(options: ResticOptions, source: string, target: string) {
  await ok(['init'], options);
  await ok(['backup', '.'], { ...options, cwd: source });
  await ok(['restore', 'latest', '--target', target], options);
  assert.deepEqual(await hashTree(target), await hashTree(source));
}
