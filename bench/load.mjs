#!/usr/bin/env node
// Load benchmark for any restic REST server: POST, HEAD, GET, list and DELETE of 8 MiB blobs
// (4 concurrent) and 4 KiB blobs (16 concurrent), with the server's peak RSS when --pid is given.
//
//   node bench/load.mjs --url http://127.0.0.1:8000/benchrepo [--user u --password p] [--pid N]
//                       [--count 4000] [--large-count 128] [--duration 30] [--json]
import { createHash, randomBytes } from 'node:crypto';
import { parseCommandLine, runMain, TARGET_OPTIONS, targetValues } from './lib/cli.mjs';
import { createRepoClient, redactUrl } from './lib/http.mjs';
import { cpuMeter, readMemory, startRssSampler } from './lib/proc.mjs';
import { fixed, formatTable, mib } from './lib/table.mjs';

const V2 = 'application/vnd.x.restic.rest.v2';
const MB = 1e6;

const USAGE = `usage: node bench/load.mjs --url URL [options]
  --url URL              repository URL (created with POST ?create=true)
  --user U --password P  Basic auth (or put them in the URL)
  --pid N                server process id: sample its RSS every 50 ms and its CPU time
  --count N              number of 4 KiB blobs (default 4000)
  --large-count N        number of 8 MiB blobs (default 128)
  --passes N             HEAD and GET read every blob N times (default 5)
  --lists N              list requests per blob size (default 50)
  --duration S           at most S seconds per phase; a phase stops issuing requests then (default 30)
  --warmup N             untimed warm-up cycle with N 4 KiB blobs first; 0 skips it (default 500)
  --sizes LIST           blob sizes to run, from 8MiB,4KiB (default both)
  --json                 print the results as JSON instead of a table`;

const SIZES = [
  { label: '8MiB', size: 8 * 2 ** 20, concurrency: 4, countOption: 'large-count', large: true },
  { label: '4KiB', size: 4 * 2 ** 10, concurrency: 16, countOption: 'count', large: false },
];

async function main(argv) {
  const options = parseOptions(argv);
  const client = createRepoClient(options.url, {
    user: options.user,
    password: options.password,
    maxSockets: Math.max(...SIZES.map((s) => s.concurrency)),
  });
  const sampler = options.pid ? startRssSampler(options.pid, 50) : undefined;
  try {
    await createRepo(client, options.url);
    if (options.warmup) {
      // Untimed: a short run of every request kind, so neither side is measured while still cold (JIT).
      const small = SIZES.find((s) => !s.large);
      const warm = await runSize(client, small, generateBlobs(small.size, options.warmup), { ...options, passes: 1, lists: 2 }, sampler);
      const failed = warm.find((p) => p.errors > 0);
      if (failed) throw new Error(`warm-up ${failed.phase} failed: ${failed.firstError}`);
    }
    const phases = [];
    for (const spec of SIZES.filter((s) => options.sizes.includes(s.label))) {
      const blobs = generateBlobs(spec.size, options[spec.countOption]);
      phases.push(...(await runSize(client, spec, blobs, options, sampler)));
    }
    const result = summarize(options, phases, sampler);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${render(result)}\n`);
    return phases.some((p) => p.errors > 0) || sampler?.gone ? 1 : 0;
  } finally {
    sampler?.stop();
    client.close();
  }
}

function parseOptions(argv) {
  const parsed = parseCommandLine('load.mjs', USAGE, argv, {
    ...TARGET_OPTIONS,
    count: { type: 'string', default: '4000' },
    'large-count': { type: 'string', default: '128' },
    passes: { type: 'string', default: '5' },
    lists: { type: 'string', default: '50' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '500' },
    sizes: { type: 'string', default: SIZES.map((s) => s.label).join(',') },
  });
  const { values, fail, integer } = parsed;
  const sizes = values.sizes.split(',');
  const unknown = sizes.filter((label) => !SIZES.some((s) => s.label === label));
  if (unknown.length) fail(`unknown blob size(s) ${unknown.join(', ')}; known: ${SIZES.map((s) => s.label).join(', ')}`);
  return {
    ...targetValues(parsed),
    count: integer('count'),
    'large-count': integer('large-count'),
    passes: integer('passes'),
    lists: integer('lists'),
    durationMs: integer('duration') * 1000,
    warmup: integer('warmup', 0),
    sizes,
  };
}

async function createRepo(client, url) {
  const where = `creating the repository at ${redactUrl(url)}`;
  const res = await client.request('POST', '/?create=true').catch((err) => {
    throw new Error(`${where}: ${err.message}`);
  });
  if (res.status !== 200) throw new Error(`${where}: HTTP ${res.status}`);
}

/**
 * `count` blobs of `size` bytes sharing one random body: each is a 16-byte prefix (a per-run random
 * id and a counter) plus the shared remainder, so names differ without generating `count` buffers.
 */
function generateBlobs(size, count) {
  const run = randomBytes(8);
  const rest = randomBytes(size - 16);
  return Array.from({ length: count }, (_, i) => {
    const prefix = Buffer.alloc(16);
    run.copy(prefix, 0);
    prefix.writeBigUInt64BE(BigInt(i), 8);
    const name = createHash('sha256').update(prefix).update(rest).digest('hex');
    return { name, parts: [prefix, rest], size };
  });
}

/** The five phases for one blob size; later phases only touch the blobs the POST phase stored. */
async function runSize(client, spec, blobs, options, sampler) {
  const { label, concurrency } = spec;
  const run = (name, count, op) =>
    runPhase({ phase: `${label} ${name}`, size: spec, count, concurrency, op, options, sampler });

  const stored = [];
  const post = await run('POST', blobs.length, async (i) => {
    const blob = blobs[i];
    const res = await client.request('POST', `/data/${blob.name}`, { body: blob.parts });
    if (res.status === 200) stored.push(blob);
    return { status: res.status, ok: res.status === 200, bytes: blob.size };
  });

  const reads = stored.length * options.passes;
  const head = await run('HEAD', reads, async (i) => {
    const blob = stored[i % stored.length];
    const res = await client.request('HEAD', `/data/${blob.name}`);
    const ok = res.status === 200 && Number(res.headers['content-length']) === blob.size;
    return { status: res.status, ok, bytes: 0 };
  });

  const get = await run('GET', reads, async (i) => {
    const blob = stored[i % stored.length];
    const res = await client.request('GET', `/data/${blob.name}`);
    return { status: res.status, ok: res.status === 200 && res.bytes === blob.size, bytes: res.bytes };
  });

  const sizes = new Map(stored.map((b) => [b.name, b.size]));
  const list = await run('list', options.lists, async () => {
    const res = await client.request('GET', '/data/', { headers: { accept: V2 }, collect: true });
    if (res.status !== 200) return { status: res.status, ok: false, bytes: 0 };
    if (res.headers['content-type'] !== V2) return { ok: false, error: `list Content-Type ${res.headers['content-type']}` };
    if (!listsAll(res.body, sizes)) return { ok: false, error: 'list misses stored blobs or has wrong sizes' };
    return { ok: true, bytes: res.bytes };
  });

  const del = await run('DELETE', stored.length, async (i) => {
    const res = await client.request('DELETE', `/data/${stored[i].name}`);
    return { status: res.status, ok: res.status === 200, bytes: 0 };
  });
  return [post, head, get, list, del];
}

/** True when the v2 listing in `body` names every blob of `sizes` (name -> size) with its size. */
function listsAll(body, sizes) {
  let entries;
  try {
    entries = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(entries)) return false;
  const listed = new Map(entries.filter((e) => e && typeof e.name === 'string').map((e) => [e.name, e.size]));
  for (const [name, size] of sizes) if (listed.get(name) !== size) return false;
  return true;
}

/**
 * Runs `op(i)` for i = 0..count-1 with `concurrency` requests in flight, until all are done or the
 * phase's time is up (no new request starts after that). An op resolves to { ok, bytes, status?, error? }.
 */
async function runPhase({ phase, size, count, concurrency, op, options, sampler }) {
  const cpu = cpuMeter(options.pid);
  sampler?.takeWindow();
  const started = performance.now();
  const deadline = started + options.durationMs;
  let next = 0;
  let ops = 0;
  let bytes = 0;
  let errors = 0;
  let firstError;
  const worker = async () => {
    while (next < count && performance.now() < deadline && !sampler?.gone) {
      const i = next++;
      try {
        const result = await op(i);
        if (result.ok) {
          ops += 1;
          bytes += result.bytes;
        } else {
          errors += 1;
          firstError ??= result.error ?? `HTTP ${result.status}`;
        }
      } catch (err) {
        errors += 1;
        firstError ??= err.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const { serverCpuPct, clientCpuPct, otherCpuPct } = cpu.lap(seconds);
  return {
    phase,
    blobSize: size.size,
    concurrency,
    requested: count,
    ops,
    errors,
    firstError,
    seconds,
    opsPerSec: ops / seconds,
    mbPerSec: bytes > 0 ? bytes / MB / seconds : undefined,
    serverCpuPct,
    clientCpuPct,
    otherCpuPct,
    peakRssBytes: sampler ? sampler.takeWindow() : undefined,
    large: size.large,
  };
}

function summarize(options, phases, sampler) {
  const peak = (large) => {
    const values = phases.filter((p) => p.large === large && p.peakRssBytes !== undefined).map((p) => p.peakRssBytes);
    return values.length ? Math.max(...values) : undefined;
  };
  let hwm;
  if (options.pid && !sampler.gone) hwm = readMemory(options.pid).hwm;
  return {
    url: redactUrl(options.url),
    pid: options.pid,
    serverGone: sampler?.gone ?? false,
    phases: phases.map(({ large, ...rest }) => rest),
    peakRssLargeBytes: peak(true),
    peakRssSmallBytes: peak(false),
    vmHwmBytes: hwm,
  };
}

function render(result) {
  const rows = result.phases.map((p) => [
    p.phase,
    `${p.ops}/${p.requested}`,
    fixed(p.seconds, 2),
    fixed(p.opsPerSec, 0),
    fixed(p.mbPerSec, 1),
    p.errors ? `${p.errors} (${p.firstError})` : '0',
    fixed(p.serverCpuPct, 0),
    fixed(p.clientCpuPct, 0),
    fixed(p.otherCpuPct, 0),
    p.peakRssBytes === undefined ? undefined : mib(p.peakRssBytes),
  ]);
  const table = formatTable(
    ['phase', 'ok/requested', 'seconds', 'ops/s', 'MB/s', 'errors', 'srv CPU%', 'client CPU%', 'others CPU%', 'srv peak RSS MiB'],
    rows,
  );
  const lines = [`load benchmark against ${result.url}  (MB = 10^6 bytes; CPU% 100 = one core)`, table];
  if (result.pid) {
    const parts = [
      result.peakRssLargeBytes && `8 MiB phases ${mib(result.peakRssLargeBytes)} MiB`,
      result.peakRssSmallBytes && `4 KiB phases ${mib(result.peakRssSmallBytes)} MiB`,
      result.vmHwmBytes && `VmHWM (process lifetime) ${mib(result.vmHwmBytes)} MiB`,
    ];
    lines.push(`server peak RSS: ${parts.filter(Boolean).join(', ')}`);
  }
  if (result.serverGone) lines.push(`server process ${result.pid} went away during the run`);
  return lines.join('\n');
}

runMain('load.mjs', main);
