#!/usr/bin/env node
// Drime API calls per restic operation and per provider operation, and throughput, all
// against the in-process Drime emulator on loopback (NOT Drime's real speed: it shows what
// the backend asks of Drime, and its own overhead), with the local backend alongside.
//
//   pnpm run build && node --conditions=pyrestserver-source --import tsx bench/drime-calls.mjs [--size-mib 64] [--seed 1]
//        [--data DIR] [--page-size 1000] [--markdown] [--json]
//
// The restic part runs `node cli/dist/bin.js serve --backend drime` (from the repo root) with
// DRIME_API_URL pointing at the emulator, and the real restic binary.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { ensureDataset, treeDigest } from './lib/dataset.mjs';
import { startRssSampler } from './lib/proc.mjs';
import { fixed, formatTable, mib } from './lib/table.mjs';
import { DrimeEmulator } from '../plugins/backend-drime/test/support/emulator.ts';
import { createDrimeProvider } from '../plugins/backend-drime/src/index.ts';
import { startCli } from '../test/support/cli.ts';
import { LocalProvider } from '../plugins/backend-local/src/index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const PASSWORD = 'pyrestserver-bench';
const MiB = 2 ** 20;
/** A logger that drops everything (the provider wants pino's shape). */
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };

const USAGE = `usage: node --import tsx bench/drime-calls.mjs [options]
  --size-mib N    restic data set size in MiB (default 64)
  --seed N        data set seed (default 1)
  --data DIR      where the data set is kept and reused (default .bench/dataset)
  --page-size N   the emulator's largest listing page (default 1000)
  --markdown      print Markdown tables
  --json          print the results as JSON`;

async function main(argv) {
  const { values, integer } = parseCommandLine('drime-calls', USAGE, argv, {
    'size-mib': { type: 'string' },
    seed: { type: 'string' },
    data: { type: 'string' },
    'page-size': { type: 'string' },
    markdown: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const options = {
    sizeMiB: integer('size-mib') ?? 64,
    seed: integer('seed') ?? 1,
    data: values.data ?? join(ROOT, '.bench/dataset'),
    pageSize: integer('page-size') ?? 1000,
  };
  const results = {
    restic: await resticSteps(options, 'drime'),
    resticLocal: await resticSteps(options, 'local'),
    provider: await providerSteps(options),
    throughput: [...(await throughput(options, 'drime')), ...(await throughput(options, 'local'))],
  };
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else print(results, values.markdown);
  return 0;
}

// ---- restic through the CLI -----------------------------------------------------

/** The restic steps against the CLI serving `backend` (drime: the emulator; local: a temporary folder). */
async function resticSteps(options, backend) {
  const dataset = await ensureDataset(options.data, { sizeMiB: options.sizeMiB, seed: options.seed });
  const emulator = await DrimeEmulator.start({ pageSize: options.pageSize });
  const work = await mkdtemp(join(tmpdir(), 'pyrestserver-bench-drime-'));
  const server = await startServer(backend === 'drime' ? emulator : undefined, join(work, 'local'));
  const env = { ...process.env, RESTIC_REPOSITORY: `rest:${server.url}/bench`, RESTIC_PASSWORD: PASSWORD };
  const steps = [];
  const rss = startRssSampler(server.pid, 20);
  const step = async (name, args, cwd) => {
    emulator.resetCounts();
    rss.takeWindow();
    const started = process.hrtime.bigint();
    await run('restic', ['--no-cache', ...args], { env, cwd });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    steps.push({ step: name, backend, seconds, peakRss: rss.takeWindow(), files: repoFiles(emulator), ...summarize(emulator.counts) });
  };
  try {
    await step('init', ['init']);
    await step(`backup (${dataset.files} files, ${options.sizeMiB} MiB)`, ['backup', '--host', 'bench', '.'], dataset.tree);
    const changed = join(work, 'changed.bin');
    await appendFile(changed, randomBytes(256 * 1024));
    await step('backup again (1 new file)', ['backup', '--host', 'bench', '.', changed], dataset.tree);
    await step('check', ['check']);
    await step('check --read-data', ['check', '--read-data']);
    const target = join(work, 'restore');
    await step('restore', ['restore', 'latest', '--target', target]);
    const restored = await treeDigest(join(target, '.'));
    if (!restored) throw new Error('restore produced nothing');
    await step('forget --keep-last 1 --prune', ['forget', '--keep-last', '1', '--prune']);
    return steps;
  } finally {
    rss.stop();
    await server.stop();
    await emulator.close();
    await rm(work, { recursive: true, force: true });
  }
}

function repoFiles(emulator) {
  return emulator.entries().filter((e) => e.type !== 'folder').length;
}

/** The CLI serving the Drime emulator, or (without one) the local backend on `path`. */
async function startServer(emulator, path) {
  const server = emulator
    ? await startCli({ path: false, args: ['--backend', 'drime'], env: { DRIME_API_KEY: emulator.apiKey, DRIME_API_URL: emulator.url } })
    : await startCli({ path });
  return { url: server.url, pid: server.child.pid, stop: () => server.stop() };
}

// ---- provider operations ---------------------------------------------------------

async function providerSteps(options) {
  const emulator = await DrimeEmulator.start({ pageSize: options.pageSize });
  const logger = silent;
  const config = { api_key: emulator.apiKey, api_url: emulator.url };
  const steps = [];
  const measure = async (name, fn) => {
    emulator.resetCounts();
    await fn();
    steps.push({ step: name, ...summarize(emulator.counts) });
  };
  let provider;
  const blobs = Array.from({ length: 200 }, () => blob(1024));
  try {
    await measure('start (key check)', async () => (provider = await createDrimeProvider(config, { logger })));
    await measure('createRepository (new)', () => provider.createRepository('repo'));
    await measure('createRepository (exists)', () => provider.createRepository('repo'));
    await measure('write 1 KiB into a new data/xx', () => write(provider, blobs[0]));
    const sameShard = blobs.find((b, i) => i > 0 && b.name.slice(0, 2) === blobs[0].name.slice(0, 2)) ?? blobInShard(blobs[0].name.slice(0, 2));
    await measure('write 1 KiB into a known data/xx', () => write(provider, sameShard));
    await measure('write 40 MiB (multipart, 2 parts)', () => write(provider, blob(40 * MiB)));
    const more = blobs.slice(1).filter((b) => b !== sameShard);
    const newShards = new Set(more.map((b) => b.name.slice(0, 2))).size;
    await measure(`write ${more.length} x 1 KiB (into ${newShards} data/xx, most new)`, async () => {
      for (const b of more) await write(provider, b);
    });
    await measure('stat (cached)', () => provider.stat(ref(blobs[0])));
    await measure('read 100 bytes (range)', () => drain(provider.read(ref(blobs[0]), { start: 10, end: 109 })));
    await measure(`list data (${blobs.length + 1} files)`, () => listAll(provider));
    await measure('delete', () => provider.delete(ref(blobs[0])));
    await provider.close();
    provider = await createDrimeProvider(config, { logger });
    await measure('after restart: stat (cold)', () => provider.stat(ref(blobs[1])));
    await measure('after restart: stat of 100 more', async () => {
      for (const b of blobs.slice(2, 102)) await provider.stat(ref(b)).catch(() => undefined);
    });
    return steps;
  } finally {
    await provider?.close();
    await emulator.close();
  }
}

// ---- throughput --------------------------------------------------------------------

/** Provider-level speed of `backend`: drime against the emulator, local on a temporary folder. */
async function throughput(options, backend) {
  const emulator = await DrimeEmulator.start({ pageSize: options.pageSize });
  const dir = await mkdtemp(join(tmpdir(), 'pyrestserver-bench-local-'));
  const provider =
    backend === 'drime'
      ? await createDrimeProvider({ api_key: emulator.apiKey, api_url: emulator.url }, { logger: silent })
      : new LocalProvider({ root: dir });
  const rows = [];
  const timed = async (what, bytes, fn) => {
    const started = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rows.push({ what: `${backend}: ${what}`, mib: bytes / MiB, seconds, mibPerSecond: bytes / MiB / seconds });
  };
  try {
    await provider.createRepository('t');
    const packs = Array.from({ length: 16 }, () => blob(8 * MiB));
    await timed('upload 16 x 8 MiB, 4 at a time', 128 * MiB, () => inParallel(packs, 4, (b) => write(provider, b, 't')));
    await timed('download 16 x 8 MiB, 4 at a time', 128 * MiB, () => inParallel(packs, 4, (b) => drain(provider.read(ref(b, 't')))));
    const big = blob(96 * MiB);
    await timed(`upload 96 MiB${backend === 'drime' ? ' (multipart, 4 parts)' : ''}`, 96 * MiB, () => write(provider, big, 't'));
    await timed('download 96 MiB', 96 * MiB, () => drain(provider.read(ref(big, 't'))));
    const small = Array.from({ length: 500 }, () => blob(4096));
    const started = process.hrtime.bigint();
    await inParallel(small, 8, (b) => write(provider, b, 't'));
    await inParallel(small, 8, (b) => provider.stat(ref(b, 't')));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rows.push({ what: `${backend}: 500 small uploads + 500 stats, 8 at a time`, operationsPerSecond: 1000 / seconds, seconds });
    return rows;
  } finally {
    await provider.close?.();
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- helpers -------------------------------------------------------------------------

const GROUPS = {
  list: ['list'],
  folders: ['createFolder'],
  uploads: ['upload'],
  multipart: ['multipartCreate', 'signParts', 'putPart', 'multipartComplete', 's3Entry', 'multipartAbort'],
  downloads: ['download'],
  deletes: ['delete'],
};

function summarize(counts) {
  const out = { total: Object.entries(counts).filter(([k]) => k !== 'storageGet').reduce((n, [, v]) => n + v, 0) };
  for (const [group, endpoints] of Object.entries(GROUPS)) out[group] = endpoints.reduce((n, e) => n + counts[e], 0);
  out.other = out.total - Object.keys(GROUPS).reduce((n, g) => n + out[g], 0);
  return out;
}

function blob(size) {
  const data = randomBytes(size);
  return { data, name: createHash('sha256').update(data).digest('hex') };
}

function blobInShard(shard) {
  for (;;) {
    const b = blob(1024);
    if (b.name.startsWith(shard)) return b;
  }
}

const ref = (b, repo = 'repo') => ({ repo, type: 'data', name: b.name });
const write = (provider, b, repo = 'repo') => provider.write(ref(b, repo), Readable.from([b.data], { objectMode: false }), b.data.length);

async function drain(streamPromise) {
  for await (const chunk of await streamPromise) void chunk;
}

async function listAll(provider) {
  let n = 0;
  for await (const info of provider.list('repo', 'data')) n += info.size >= 0 ? 1 : 0;
  return n;
}

async function inParallel(items, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

function run(command, args, { env, cwd }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s) => (err += s));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))));
  });
}

function print(results, markdown) {
  const groups = Object.keys(GROUPS);
  const head = ['restic step', 'API calls', ...groups, 'other', 'files in Drime', 's (drime)', 's (local)', 'peak RSS MiB (drime)', 'peak RSS MiB (local)'];
  const rows = results.restic.map((r, i) => {
    const local = results.resticLocal[i];
    return [r.step, r.total, ...groups.map((g) => r[g]), r.other, r.files, fixed(r.seconds, 2), fixed(local?.seconds, 2), mib(r.peakRss), mib(local?.peakRss)];
  });
  console.log(formatTable(head, rows, { markdown }));
  console.log();
  console.log(formatTable(['provider operation', 'API calls', ...groups, 'other'], results.provider.map((r) => [r.step, r.total, ...groups.map((g) => r[g]), r.other]), { markdown }));
  console.log();
  console.log(
    formatTable(
      ['throughput (emulator on loopback)', 'MiB', 's', 'MiB/s', 'ops/s'],
      results.throughput.map((r) => [r.what, fixed(r.mib, 0), fixed(r.seconds, 2), fixed(r.mibPerSecond, 0), fixed(r.operationsPerSecond, 0)]),
      { markdown },
    ),
  );
  console.log('\n(storageGet, the redirected half of each download, is not counted as an API call.)');
}

runMain('drime-calls', main);
