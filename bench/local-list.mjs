#!/usr/bin/env node
/**
 * How long the local backend takes to list the data blobs of a large repository.
 *
 *   pnpm run build && node bench/local-list.mjs [count=100000] [rounds=5]
 *
 * Creates `count` blobs (sizes 0..12 bytes) under a temporary folder, lists them `rounds`
 * times through LocalProvider.list (the path GET /data/ takes), prints each time in ms,
 * then removes the folder.
 */
import { linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { LocalProvider } from '../plugins/backend-local/dist/index.js';

const count = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const root = mkdtempSync(path.join(os.tmpdir(), 'pyrs-bench-list-'));
try {
  const provider = new LocalProvider({ root });
  await provider.createRepository('bench');
  let t = performance.now();
  // Hard links to 13 source files: far quicker to make than 100,000 separate files.
  const sources = Array.from({ length: 13 }, (_, size) => path.join(root, `source-${size}`));
  sources.forEach((file, size) => writeFileSync(file, Buffer.alloc(size)));
  for (let i = 0; i < count; i++) {
    const name = createHash('sha256').update(String(i)).digest('hex');
    linkSync(sources[i % 13], path.join(root, 'bench', 'data', name.slice(0, 2), name));
  }
  console.log(`created ${count} blobs in ${(performance.now() - t).toFixed(0)} ms`);
  for (let r = 1; r <= rounds; r++) {
    t = performance.now();
    let listed = 0;
    for await (const _ of provider.list('bench', 'data')) listed++;
    if (listed !== count) throw new Error(`listed ${listed}, expected ${count}`);
    console.log(`round ${r}: listed ${listed} blobs in ${(performance.now() - t).toFixed(0)} ms`);
  }
  await provider.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
