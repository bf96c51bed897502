#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=33554432 node --max-semi-space-size=1
// A 1 MiB young generation: request bodies are short-lived Buffers, and collecting them
// sooner keeps peak memory under 8 MiB uploads and downloads ~30 MiB lower at no cost
// in throughput (docs/benchmarks.md). It has to be a node flag, hence the shebang.
// MALLOC_MMAP_THRESHOLD_: glibc's malloc serves blocks of 128 KiB and more (the 512 KiB
// upload slabs and download buffers) from their own mappings, given back to the system when
// freed, instead of raising that threshold with the first such block freed and then keeping
// them in its heap, where freed ones stay resident (3-5 MiB lower peaks over the bench, the
// heap at the end of it 22-27 -> 13-15 MiB; docs/benchmarks.md). Other C libraries ignore it.
// MALLOC_TRIM_THRESHOLD_: fixing the mmap threshold also fixes the trim threshold, at 128 KiB,
// so each time V8 freed the dead 64 KiB body chunks of the HTTP parser (tens of MiB at once)
// glibc gave the top of its heap back, and the next chunks faulted it in again: 35,000-109,000
// page faults over the 8 MiB load phases, in the parser's copy of each chunk. Keeping up to
// 32 MiB: 7,400-8,100 faults, 8 MiB uploads 1.12-1.43x as fast, peak RSS 8-15 MiB higher
// (docs/benchmarks.md, "Changes of 2026-12-07, second session").
import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // The quick answer, without loading the CLI (as cac words it).
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  console.log(`pyrestserver/${version} ${process.platform}-${process.arch} node-${process.version}`);
} else {
  // Node 22.1 and later keep the compiled code of the modules loaded below (ours, fastify,
  // pino...) in the user's cache folder (core's user-cache.ts: ours, writable by nobody
  // else), so that later starts skip compiling them (docs/benchmarks.md). NODE_COMPILE_CACHE
  // picks another folder; NODE_DISABLE_COMPILE_CACHE or PYRESTSERVER_NO_CACHE turn it off.
  const { enableCompileCache } = nodeModule as { enableCompileCache?: (dir: string) => unknown };
  if (enableCompileCache && !process.env.NODE_COMPILE_CACHE && !process.env.NODE_DISABLE_COMPILE_CACHE) {
    const { userCacheDir } = await import('@pyrestserver/core/user-cache');
    const dir = userCacheDir('node-compile-cache');
    if (dir) enableCompileCache(dir);
  }
  const { main } = await import('./main.js');
  try {
    const code = await main(process.argv);
    if (code !== 0) process.exitCode = code;
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  }
}
