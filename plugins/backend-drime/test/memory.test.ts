/**
 * Bodies are streamed, never held: moving a file much bigger than the allowed memory growth
 * through the provider (upload via multipart, download) must not grow this process's RSS by
 * anything near the file's size. The emulator runs in a process of its own, since it keeps
 * what it stores in memory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { createDrimeProvider, type DrimeProvider } from '../src/index.js';
import { capturingLogger } from './support/setup.js';

const MiB = 1024 * 1024;
const SIZE = 384 * MiB;
const ALLOWED_GROWTH = 160 * MiB;

let child: ReturnType<typeof spawn>;
let provider: DrimeProvider;

before(async () => {
  const main = fileURLToPath(new URL('./support/emulator-main.ts', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', main], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { url, apiKey } = JSON.parse(line) as { url: string; apiKey: string };
  provider = await createDrimeProvider({ api_key: apiKey, api_url: url }, { logger: capturingLogger([]) });
  await provider.createRepository('mem');
});

after(async () => {
  await provider?.close();
  child?.kill('SIGTERM');
  if (child && child.exitCode === null) await once(child, 'exit');
});

/** `SIZE` bytes of one repeated 1 MiB pattern, made on the fly. */
function body(): Readable {
  const chunk = Buffer.alloc(MiB, 0x5a);
  return Readable.from(
    (function* () {
      for (let left = SIZE; left > 0; left -= MiB) yield chunk.subarray(0, Math.min(MiB, left));
    })(),
    { objectMode: false },
  );
}

/** Peak RSS growth of this process while `fn` runs. */
async function rssGrowth(fn: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - base;
}

const ref = { repo: 'mem', type: 'data', name: 'ab'.padEnd(64, '0') } as const;

it(`uploads and downloads ${SIZE / MiB} MiB without holding it (RSS grows < ${ALLOWED_GROWTH / MiB} MiB)`, async () => {
  const up = await rssGrowth(() => provider.write(ref, body(), SIZE));
  assert.ok(up < ALLOWED_GROWTH, `upload grew RSS by ${(up / MiB).toFixed(0)} MiB`);
  assert.deepEqual(await provider.stat(ref), { size: SIZE });
  const expected = createHash('sha256');
  for await (const chunk of body()) expected.update(chunk as Buffer);
  const got = createHash('sha256');
  let bytes = 0;
  const down = await rssGrowth(async () => {
    for await (const chunk of await provider.read(ref)) {
      got.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  });
  assert.equal(bytes, SIZE);
  assert.equal(got.digest('hex'), expected.digest('hex'));
  assert.ok(down < ALLOWED_GROWTH, `download grew RSS by ${(down / MiB).toFixed(0)} MiB`);
});
