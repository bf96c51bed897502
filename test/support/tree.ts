import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { hashStream, pseudoRandomStream } from './data.js';

export interface TreeFile {
  /** Relative path, `/`-separated. */
  path: string;
  size: number;
}

/**
 * The default tree the restic tests back up: nested folders, an empty file, an empty
 * folder, small and medium files, a file larger than restic's 8 MiB pack size, and
 * repeated content (deduplication).
 */
export const DEFAULT_TREE: readonly TreeFile[] = [
  { path: 'empty.txt', size: 0 },
  { path: 'one-byte.bin', size: 1 },
  { path: 'big/over-8-mib.bin', size: 9 * 1024 * 1024 + 123 },
  { path: 'docs/a/b/c/deep.bin', size: 300_001 },
  { path: 'docs/a/small-1.bin', size: 4096 },
  { path: 'docs/a/small-2.bin', size: 65_537 },
  { path: 'docs/readme.bin', size: 1_500_000 },
  { path: 'media/photo-1.bin', size: 2 * 1024 * 1024 },
];

/** Create `files` under `root` with pseudo-random content from `seed` (streamed), plus empty folders. */
export async function makeTree(
  root: string,
  options: { seed?: string; files?: readonly TreeFile[]; emptyDirs?: readonly string[] } = {},
): Promise<void> {
  const seed = options.seed ?? 'tree';
  for (const file of options.files ?? DEFAULT_TREE) {
    await writeRandomFile(join(root, file.path), `${seed}:${file.path}`, file.size);
  }
  for (const dir of options.emptyDirs ?? ['empty-dir', 'docs/a/empty-nested']) {
    await mkdir(join(root, dir), { recursive: true });
  }
}

/** Write `size` pseudo-random bytes (from `seed`) to `file`, creating its folder. */
export async function writeRandomFile(file: string, seed: string, size: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await pipeline(pseudoRandomStream(seed, size), createWriteStream(file));
}

export const removeFile = (file: string): Promise<void> => rm(file, { force: true });

/**
 * Every entry below `root`: relative path -> `dir`, or the file's `sha256:size`.
 * Two trees with equal maps have the same folders and byte-identical files.
 */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        out.set(rel, 'dir');
        await walk(full, rel);
      } else if (entry.isFile()) {
        const { sha256, size } = await hashStream(createReadStream(full));
        out.set(rel, `${sha256}:${size}`);
      } else {
        out.set(rel, 'other');
      }
    }
  }
  await walk(root, '');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** SHA-256 (hex) of a file, streamed. */
export async function hashFile(file: string): Promise<string> {
  return (await hashStream(createReadStream(file))).sha256;
}

/** SHA-256 over a whole tree map: one value to compare. */
export const treeDigest = (tree: Map<string, string>): string =>
  createHash('sha256').update(JSON.stringify([...tree])).digest('hex');
