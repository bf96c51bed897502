// A deterministic data set for restic benchmarks: many small files, some medium, a few large.
// Sizes and contents come from AES-256-CTR keystreams keyed by the seed, so the same
// (sizeMiB, seed) always gives the same files and bytes, and reruns compare.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
 * Makes sure `root`/tree holds the data set for `spec` ({ sizeMiB, seed }), generating it when it is
 * missing or differs; resolves to { tree, files, bytes, digest }.
 */
export async function ensureDataset(root, spec) {
  const tree = join(root, 'tree');
  const specFile = join(root, 'spec.json');
  const wanted = { format: FORMAT, sizeMiB: spec.sizeMiB, seed: spec.seed };
  const saved = await readFile(specFile, 'utf8').then(JSON.parse, () => undefined);
  if (saved && sameSpec(saved, wanted) && (await treeDigest(tree).catch(() => undefined)) === saved.digest) {
    return { tree, files: saved.files, bytes: saved.bytes, digest: saved.digest };
  }
  await rm(tree, { recursive: true, force: true });
  const files = planDataset(spec);
  const key = seedKey(spec.seed);
  for (const [index, file] of files.entries()) await writeFileContent(join(tree, file.path), file.size, key, index);
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const digest = await treeDigest(tree);
  await writeFile(specFile, `${JSON.stringify({ ...wanted, files: files.length, bytes, digest })}\n`);
  return { tree, files: files.length, bytes, digest };
}

function sameSpec(a, b) {
  return a.format === b.format && a.sizeMiB === b.sizeMiB && a.seed === b.seed;
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

/**
 * One SHA-256 over every regular file under `dir`: its relative path, size and content hash, in
 * path order. Two trees with the same digest hold the same files with the same bytes.
 */
export async function treeDigest(dir) {
  const paths = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/'))
    .sort();
  const total = createHash('sha256');
  for (const path of paths) {
    const { hash, size } = await fileHash(join(dir, path));
    total.update(`${path}\0${size}\0${hash}\n`);
  }
  return total.digest('hex');
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
