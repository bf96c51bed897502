// A deterministic data set for restic benchmarks: many small files, some medium, a few large.
// Sizes and contents come from AES-256-CTR keystreams keyed by the seed, so the same
// (sizeMiB, seed) always gives the same files and bytes, and reruns compare.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

const FORMAT = 3;
const KiB = 2 ** 10;
const MiB = 2 ** 20;

/** Share of the total size, and size range, of each class of file. */
const CLASSES = [
  { dir: 'small', share: 0.25, min: 256, max: 128 * KiB, perDir: 100 },
  { dir: 'medium', share: 0.25, min: 512 * KiB, max: 4 * MiB, perDir: 1000 },
  { dir: 'large', share: 0.5, min: 16 * MiB, max: 48 * MiB, perDir: 1000 },
];

/** The files ({ path, size }, path relative to the tree) of the data set for `sizeMiB` and `seed`. */
export function planDataset({ sizeMiB, seed }) {
  const random = seededRandom(seedKey(seed));
  const files = [];
  for (const cls of CLASSES) {
    let budget = Math.round(sizeMiB * MiB * cls.share);
    for (let i = 0; budget > 0; i++) {
      // Log-uniform between min and max: many more small sizes than large ones.
      const size = Math.min(budget, Math.round(cls.min * (cls.max / cls.min) ** random()));
      const dir = `d${String(Math.floor(i / cls.perDir)).padStart(3, '0')}`;
      files.push({ path: join(cls.dir, dir, `f${String(i).padStart(5, '0')}.bin`), size });
      budget -= size;
    }
  }
  return files;
}

/**
 * Makes sure `root` holds the data set for `spec` ({ sizeMiB, seed }) and resolves to
 * { tree, files, bytes, digest }. Each spec has its own folder under `root`, built in a private
 * temporary folder and moved into place whole: runs with other specs, or running at the same time,
 * never change a tree another run is backing up.
 */
export async function ensureDataset(root, spec) {
  const dir = join(root, `${spec.sizeMiB}MiB-seed${spec.seed}-v${FORMAT}`);
  const ready = await readyDataset(dir, spec);
  if (ready) return ready;
  await mkdir(root, { recursive: true });
  const temp = await mkdtemp(join(root, '.building-'));
  try {
    await buildDataset(temp, spec);
    // Another run may have finished the same data set meanwhile; a broken one is replaced.
    if (!(await readyDataset(dir, spec))) {
      await rm(dir, { recursive: true, force: true });
      await rename(temp, dir).catch((err) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  const built = await readyDataset(dir, spec);
  if (!built) throw new Error(`the data set in ${dir} is incomplete after building it`);
  return built;
}

/** The data set in `dir` when it is complete, matches `spec` and its files are intact. */
async function readyDataset(dir, spec) {
  const tree = join(dir, 'tree');
  const saved = await readFile(join(dir, 'spec.json'), 'utf8').then(JSON.parse, () => undefined);
  if (!saved || saved.format !== FORMAT || saved.sizeMiB !== spec.sizeMiB || saved.seed !== spec.seed) return undefined;
  if ((await treeDigest(tree).catch(() => undefined)) !== saved.digest) return undefined;
  return { tree, files: saved.files, bytes: saved.bytes, digest: saved.digest };
}

async function buildDataset(dir, spec) {
  const tree = join(dir, 'tree');
  const files = planDataset(spec);
  const key = seedKey(spec.seed);
  for (const [index, file] of files.entries()) await writeFileContent(join(tree, file.path), file.size, key, index);
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const saved = { format: FORMAT, sizeMiB: spec.sizeMiB, seed: spec.seed, files: files.length, bytes, digest: await treeDigest(tree) };
  await writeFile(join(dir, 'spec.json'), `${JSON.stringify(saved)}\n`);
}

function seedKey(seed) {
  return createHash('sha256').update(`pyrestserver-bench:${seed}`).digest();
}

/** Floats in [0, 1) from the keystream of `key`; its IV (all 0xff) is one no file index reaches. */
function seededRandom(key) {
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0xff));
  const zeros = Buffer.alloc(4096);
  let pool = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 4 > pool.length) {
      pool = cipher.update(zeros);
      at = 0;
    }
    const value = pool.readUInt32BE(at);
    at += 4;
    return value / 2 ** 32;
  };
}

async function writeFileContent(path, size, key, index) {
  await mkdir(join(path, '..'), { recursive: true });
  // The file index goes in the IV's high bytes: CTR counts up in the low ones, so streams never overlap.
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(Math.min(size, MiB));
  const handle = await open(path, 'w');
  try {
    for (let left = size; left > 0; left -= zeros.length) {
      await handle.write(cipher.update(zeros.subarray(0, Math.min(left, zeros.length))));
    }
  } finally {
    await handle.close();
  }
}

/** Every regular file under `dir`: relative path ('/'-separated) -> { size, hash }, in path order. */
export async function treeManifest(dir) {
  const paths = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/'))
    .sort();
  const manifest = new Map();
  for (const path of paths) manifest.set(path, await fileHash(join(dir, path)));
  return manifest;
}

/**
 * One SHA-256 over every regular file under `dir`: its relative path, size and content hash, in
 * path order. Two trees with the same digest hold the same files with the same bytes.
 */
export async function treeDigest(dir) {
  const total = createHash('sha256');
  for (const [path, { size, hash }] of await treeManifest(dir)) total.update(`${path}\0${size}\0${hash}\n`);
  return total.digest('hex');
}

/** How tree `actual` differs from tree `expected`: one line per file, at most `limit`. */
export async function describeDifferences(expected, actual, limit = 10) {
  const [want, got] = await Promise.all([treeManifest(expected), treeManifest(actual)]);
  const lines = [];
  for (const [path, file] of want) {
    const other = got.get(path);
    if (!other) lines.push(`${path}: missing`);
    else if (other.size !== file.size) lines.push(`${path}: ${other.size} bytes instead of ${file.size}`);
    else if (other.hash !== file.hash) lines.push(`${path}: same size, different content`);
  }
  for (const path of got.keys()) if (!want.has(path)) lines.push(`${path}: not in the data set`);
  return { count: lines.length, lines: lines.slice(0, limit) };
}

async function fileHash(path) {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash: hash.digest('hex'), size };
}
