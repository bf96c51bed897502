#!/usr/bin/env node
// Memory of the Drime backend while it moves big files: the emulator runs in a process of its
// own (it keeps what it stores in memory), the provider runs here; we sample this process's
// RSS while uploading and downloading, one big file and several at once. If bodies were held
// in memory, RSS would grow by their size.
//
//   node --conditions=pyrestserver-source --import tsx bench/drime-memory.mjs [--size-mib 256] [--parallel 4] [--json]
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { formatTable, mib } from './lib/table.mjs';
import { createDrimeProvider } from '../plugins/backend-drime/src/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };

const USAGE = `usage: node --conditions=pyrestserver-source --import tsx bench/drime-memory.mjs [options]
  --size-mib N   size of the big file (default 256; multipart above 30 MiB)
  --parallel N   files of 24 MiB moved at once in the second round (default 4)
  --json         print JSON`;

async function main(argv) {
  const { values, integer } = parseCommandLine('drime-memory', USAGE, argv, {
    'size-mib': { type: 'string' },
    parallel: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const sizeMiB = integer('size-mib') ?? 256;
  const parallel = integer('parallel') ?? 4;
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'plugins/backend-drime/test/support/emulator-main.ts')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { url, apiKey } = JSON.parse(line);
  const provider = await createDrimeProvider({ api_key: apiKey, api_url: url }, { logger: silent });
  const rows = [];
  const measure = async (what, bytes, fn) => {
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const started = process.hrtime.bigint();
    await fn();
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rows.push({ what, moved: bytes, base, peak, growth: peak - base, seconds });
  };
  try {
    await provider.createRepository('mem');
    const big = generated(sizeMiB * MiB, 'big');
    await measure(`upload 1 x ${sizeMiB} MiB`, big.size, () => provider.write(ref(big.name), big.stream(), big.size));
    await measure(`download 1 x ${sizeMiB} MiB`, big.size, () => drain(provider.read(ref(big.name)), big.digest));
    const files = Array.from({ length: parallel }, (_, i) => generated(24 * MiB, `p${i}`));
    await measure(`upload ${parallel} x 24 MiB at once`, parallel * 24 * MiB, () =>
      Promise.all(files.map((f) => provider.write(ref(f.name), f.stream(), f.size))),
    );
    await measure(`download ${parallel} x 24 MiB at once`, parallel * 24 * MiB, () =>
      Promise.all(files.map((f) => drain(provider.read(ref(f.name)), f.digest))),
    );
  } finally {
    await provider.close();
    child.kill('SIGTERM');
  }
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  else {
    console.log(
      formatTable(
        ['operation (provider, emulator in another process)', 'MiB moved', 'RSS before MiB', 'peak RSS MiB', 'growth MiB', 's'],
        rows.map((r) => [r.what, mib(r.moved), mib(r.base), mib(r.peak), mib(r.growth), r.seconds.toFixed(2)]),
      ),
    );
  }
  return 0;
}

const ref = (name) => ({ repo: 'mem', type: 'data', name });

/** A file of `size` pseudo-random bytes made on the fly (never held whole), with its SHA-256. */
function generated(size, seed) {
  const chunk = randomFillSync(Buffer.alloc(MiB));
  const hash = createHash('sha256');
  for (let left = size; left > 0; left -= MiB) hash.update(chunk.subarray(0, Math.min(MiB, left)));
  const digest = hash.digest('hex');
  const name = createHash('sha256').update(`${seed}:${digest}`).digest('hex');
  return {
    size,
    digest,
    name,
    stream: () =>
      Readable.from(
        (function* () {
          for (let left = size; left > 0; left -= MiB) yield chunk.subarray(0, Math.min(MiB, left));
        })(),
        { objectMode: false },
      ),
  };
}

async function drain(streamPromise, digest) {
  const hash = createHash('sha256');
  for await (const chunk of await streamPromise) hash.update(chunk);
  if (hash.digest('hex') !== digest) throw new Error('downloaded bytes differ');
}

runMain('drime-memory', main);
