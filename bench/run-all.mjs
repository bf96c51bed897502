#!/usr/bin/env node
// Runs bench/load.mjs and bench/restic.mjs against each server in turn, in one run so the numbers
// compare: pyrestserver (cli/dist/bin.js, build first) and `rclone serve restic`, each on loopback
// with a fresh temporary data directory. Prints a Markdown report and writes the raw results as JSON.
//
//   pnpm run build && node bench/run-all.mjs [--servers ours,rest-server,rclone] [--rounds 1] [--quick]
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { ensureDataset } from './lib/dataset.mjs';
import { shebangCommand } from './lib/proc.mjs';
import { fixed, formatTable, mib } from './lib/table.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const OURS_BIN = join(ROOT, 'cli', 'dist', 'bin.js');
const OURS_BASE_BIN = process.env.OURS_BASE_BIN;
const OURS_NODE = process.env.OURS_NODE;
const REST_SERVER_BIN = process.env.REST_SERVER_BIN ?? join(ROOT, '..', 'shared', 'peers', 'rest-server');

/** A build of ours (`bin`, a cli/dist/bin.js) as the installed command runs it: its shebang's variables and node flags, run by `node`. */
function oursArgv(bin, node) {
  return (dir, port, nodeFlags = []) => [
    ...shebangCommand(bin, node), ...nodeFlags, bin,
    'serve', '--path', dir, '--listen', `127.0.0.1:${port}`, '--no-auth',
  ];
}

const SERVERS = {
  ours: {
    label: 'pyrestserver',
    // Run by this node with the flags of the bin's shebang, as `pyrestserver serve` would run.
    argv: oursArgv(OURS_BIN),
    missing: () => (existsSync(OURS_BIN) ? undefined : `${OURS_BIN} does not exist: run \`pnpm run build\` first`),
  },
  // Another build of ours (e.g. a checkout of main before a change), for A/B runs:
  // OURS_BASE_BIN=/elsewhere/cli/dist/bin.js node bench/run-all.mjs --servers ours,base
  base: {
    label: 'pyrestserver (base build)',
    argv: oursArgv(OURS_BASE_BIN),
    missing: () => (OURS_BASE_BIN && existsSync(OURS_BASE_BIN) ? undefined : 'set OURS_BASE_BIN to the cli/dist/bin.js of the base build'),
  },
  // Ours on another Node.js than the one running the bench (users run 22 and 24):
  // OURS_NODE=/path/to/bin/node node bench/run-all.mjs --servers ours-node,ours,rest-server
  'ours-node': {
    label: `pyrestserver on Node ${OURS_NODE ? commandVersion(OURS_NODE, ['--version']) ?? '?' : '(OURS_NODE unset)'}`,
    argv: oursArgv(OURS_BIN, OURS_NODE),
    missing: () => (OURS_NODE && existsSync(OURS_NODE) ? SERVERS.ours.missing() : 'set OURS_NODE to the node binary to run ours with'),
  },
  'ours-noverify': {
    label: 'pyrestserver --no-verify-upload',
    argv: (dir, port, nodeFlags) => [...SERVERS.ours.argv(dir, port, nodeFlags), '--no-verify-upload'],
    missing: () => SERVERS.ours.missing(),
  },
  'rest-server': {
    label: 'rest-server 0.14.0',
    // The peer we promise to match: ../shared/peers/rest-server (built from its v0.14.0 source).
    argv: (dir, port) => [REST_SERVER_BIN, '--path', dir, '--listen', `127.0.0.1:${port}`, '--no-auth'],
    missing: () => (existsSync(REST_SERVER_BIN) ? undefined : `${REST_SERVER_BIN} does not exist (see ../shared/peers/README.md)`),
  },
  // The floor under ours: the bench's requests answered from memory by node:http alone, or by one
  // Fastify route, with ours' shebang (bench/floor-server.mjs). Load phases only (--load-only).
  'floor-http': floorServer('http'),
  'floor-fastify': floorServer('fastify'),
  rclone: {
    label: 'rclone serve restic',
    argv: (dir, port) => ['rclone', 'serve', 'restic', '--addr', `127.0.0.1:${port}`, dir],
    missing: () => (commandVersion('rclone', ['version']) ? undefined : 'rclone is not installed'),
  },
};

function floorServer(kind) {
  return {
    label: `floor: ${kind === 'http' ? 'node:http' : 'Fastify'} from memory`,
    argv: (_dir, port) => [...shebangCommand(OURS_BIN), join(HERE, 'floor-server.mjs'), '--kind', kind, '--listen', `127.0.0.1:${port}`],
    missing: () => SERVERS.ours.missing(),
    loadOnly: true,
  };
}

/** Issue 9: peak RSS through the whole bench (8 MiB and 4 KiB phases, listings, restic) below this. */
const RSS_TARGET_BYTES = 100 * 2 ** 20;

const QUICK = { count: '500', 'large-count': '16', passes: '1', lists: '5', warmup: '100', 'size-mib': '20' };

const USAGE = `usage: node bench/run-all.mjs [options]
  --servers LIST     comma-separated, from: ${Object.keys(SERVERS).join(', ')} (default ours,rest-server,rclone)
  --rounds N         run every server N times, alternating; medians are reported (default 1)
  --quick            small counts and a 20 MiB data set, for a smoke test
  --load-only        only bench/load.mjs (no restic steps)
  --count, --large-count, --passes, --lists, --duration, --warmup, --sizes   passed to load.mjs
  --size-mib, --seed                                                 passed to restic.mjs
  --profile          run our server under node --cpu-prof (profiles in .bench/profiles/<time>/)
  --out FILE         raw results as JSON (default .bench/results-<time>.json)
  --nice=N           run everything at this scheduling priority (-20..19; negative needs root)
  --drop-caches      sync and drop the kernel's page cache before each server's run (root), so that
                     every server starts from the same memory state (see docs/benchmarks.md, Noise)
  --report FILE      only print the report of saved raw results`;

async function main(argv) {
  const options = parseOptions(argv);
  if (options.report) {
    const saved = JSON.parse(await readFile(options.report, 'utf8'));
    process.stdout.write(`${renderReport(saved.options, saved.machine, saved.runs, saved.date)}\n`);
    return 0;
  }
  for (const name of options.servers) {
    const problem = SERVERS[name].missing() ?? (SERVERS[name].loadOnly && !options.loadOnly ? 'serves no restic repository: add --load-only' : undefined);
    if (problem) throw new Error(`${name}: ${problem}`);
  }
  // Children (servers, scripts, restic) inherit the priority: a negative value keeps other work on a
  // shared machine from competing with the benchmark for the CPUs (needs privileges).
  if (options.nice !== undefined) os.setPriority(options.nice);
  if (options.dropCaches) await dropCaches(); // fails here, before any run, without root
  const machine = machineFacts();
  log(`machine: ${machine.cpu}, ${machine.nproc} CPUs, ${machine.memory}; ${machine.node}; ${machine.restic}; ${machine.rclone}`);
  if (!options.loadOnly) log('preparing the restic data set...');
  if (!options.loadOnly) await ensureDataset(options.data, { sizeMiB: Number(options.restic['size-mib']), seed: Number(options.restic.seed) });

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    // A B, then B A, ...: a drift in machine load over the run hits every server alike.
    const order = round % 2 ? options.servers : [...options.servers].reverse();
    for (const name of order) {
      log(`round ${round}/${options.rounds}: ${SERVERS[name].label}`);
      if (options.dropCaches) await dropCaches();
      runs.push({ server: name, round, ...(await benchServer(name, options)) });
      checkInterrupted();
    }
  }

  const date = new Date().toISOString();
  process.stdout.write(`${renderReport(options, machine, runs, date)}\n`);
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(options.out, `${JSON.stringify({ date, machine, options, runs }, null, 2)}\n`);
  log(`raw results: ${options.out}`);
  if (options.profile) log(`CPU profiles of our server: ${options.profile} (summarize: node bench/cpuprofile-top.mjs FILE)`);
  return runs.some((r) => r.failed) ? 1 : 0;
}

function parseOptions(argv) {
  const passed = ['count', 'large-count', 'passes', 'lists', 'duration', 'warmup', 'sizes', 'size-mib', 'seed'];
  const { values, fail, integer } = parseCommandLine('run-all.mjs', USAGE, argv, {
    servers: { type: 'string', default: 'ours,rest-server,rclone' },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    'load-only': { type: 'boolean', default: false },
    out: { type: 'string' },
    data: { type: 'string', default: join(ROOT, '.bench', 'dataset') },
    profile: { type: 'boolean', default: false },
    report: { type: 'string' },
    nice: { type: 'string' },
    'drop-caches': { type: 'boolean', default: false },
    ...Object.fromEntries(passed.map((name) => [name, { type: 'string' }])),
  });
  const servers = values.servers.split(',').filter(Boolean);
  const unknown = servers.filter((s) => !(s in SERVERS));
  if (unknown.length || servers.length === 0) fail(`unknown server(s): ${unknown.join(', ') || '(none)'}`);
  const pick = (names) =>
    Object.fromEntries(
      names
        .map((name) => [name, values[name] ?? (values.quick ? QUICK[name] : undefined)])
        .filter(([, value]) => value !== undefined),
    );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    servers,
    rounds: integer('rounds'),
    quick: values.quick,
    loadOnly: values['load-only'],
    data: values.data,
    report: values.report,
    nice: values.nice === undefined ? undefined : integer('nice', -20),
    dropCaches: values['drop-caches'],
    profile: values.profile ? join(ROOT, '.bench', 'profiles', stamp) : undefined,
    out: values.out ?? join(ROOT, '.bench', `results-${stamp}.json`),
    load: pick(['count', 'large-count', 'passes', 'lists', 'duration', 'warmup', 'sizes']),
    restic: { 'size-mib': '200', seed: '1', ...pick(['size-mib', 'seed']) },
  };
}

/**
 * Write out dirty pages and drop the clean ones. On this virtual machine a page-cache write
 * into memory not used for a while costs ~10x the CPU of one into memory freed recently
 * (docs/benchmarks.md, Noise): without this, whichever server runs after more fresh memory
 * was touched pays more for its uploads.
 */
async function dropCaches() {
  execFileSync('sync');
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  } catch (err) {
    throw new Error(`--drop-caches: cannot write /proc/sys/vm/drop_caches (${err.code ?? err.message}; it needs root)`);
  }
}

function log(message) {
  console.error(`[bench] ${message}`);
}

/** Starts server `name` on a fresh directory, runs both benchmarks against it, stops it. */
async function benchServer(name, options) {
  const work = await mkdtemp(join(os.tmpdir(), `pyrestserver-bench-${name}-`));
  let server;
  try {
    const dataDir = join(work, 'data');
    await mkdir(dataDir);
    const nodeFlags = options.profile ? ['--cpu-prof', '--cpu-prof-dir', options.profile] : [];
    const argv = SERVERS[name].argv(dataDir, await freePort(), nodeFlags);
    log(`  ${argv.join(' ')}`);
    server = await startServer(argv, join(work, 'server.log'));
    const base = `http://127.0.0.1:${server.port}`;
    const toArgs = (record) => Object.entries(record).flatMap(([key, value]) => [`--${key}`, value]);
    const load = await runScript('load.mjs', ['--url', `${base}/benchrepo`, '--pid', String(server.pid), ...toArgs(options.load)]);
    const restic = options.loadOnly
      ? { ok: true, result: undefined }
      : await runScript('restic.mjs', [
          '--url', `${base}/resticrepo`, '--pid', String(server.pid), '--data', options.data, ...toArgs(options.restic),
        ]);
    const failed = !load.ok || !restic.ok || server.exited();
    if (failed) log(`${name}: failures; server log tail:\n${tail(join(work, 'server.log'))}`);
    return { failed, loadAverage: os.loadavg()[0], load: load.result, restic: restic.result };
  } finally {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Stop functions of the servers and scripts running now. On SIGINT/SIGTERM they are all stopped
 * and nothing new starts, so the run unwinds through its cleanups and leaves nothing behind.
 */
const running = new Set();
let interrupted;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = signal;
    log(`${signal}: stopping ${running.size} process(es)`);
    for (const stop of running) void stop();
  });
}

function checkInterrupted() {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

/** Spawns `argv` with output to `logFile` and waits until it answers HTTP on its port. */
async function startServer(argv, logFile) {
  checkInterrupted();
  const port = Number(argv.find((a) => /^127\.0\.0\.1:\d+$/.test(a)).split(':')[1]);
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exit;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exit = { code, signal }))));
  child.once('error', (err) => (exit = { error: err.message }));

  const stop = async () => {
    running.delete(stop);
    if (exit) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  running.add(stop);
  const deadline = Date.now() + 20_000;
  while (!(await answers(port))) {
    if (exit || interrupted || Date.now() > deadline) {
      await stop();
      throw new Error(`${argv.slice(0, 3).join(' ')} did not start (${JSON.stringify(exit ?? 'timeout')}):\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { pid: child.pid, port, stop, exited: () => exit !== undefined };
}

function answers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'HEAD', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Runs a bench script with --json; resolves to { ok, result } (result undefined when it printed none). */
function runScript(script, args) {
  return new Promise((resolve, reject) => {
    checkInterrupted();
    const child = spawn(process.execPath, [join(HERE, script), ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stop = () => new Promise((done) => (child.exitCode !== null || child.signalCode !== null ? done() : (child.once('close', done), child.kill('SIGTERM'))));
    running.add(stop);
    const out = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(stop);
      let result;
      try {
        result = JSON.parse(Buffer.concat(out).toString('utf8'));
      } catch {
        result = undefined;
      }
      if (code !== 0) log(`${script} exited with ${code}`);
      resolve({ ok: code === 0 && result !== undefined, result });
    });
  });
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function commandVersion(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

function machineFacts() {
  const df = commandVersion('sh', ['-c', `df -hT ${os.tmpdir()} | tail -1`]);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    nproc: os.availableParallelism(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    kernel: `${os.type()} ${os.release()}`,
    node: `node ${process.version}`,
    restic: commandVersion('restic', ['version']) ?? 'restic missing',
    rclone: commandVersion('rclone', ['version']) ?? 'rclone missing',
    tmpDisk: df ? df.replace(/\s+/g, ' ') : 'unknown',
  };
}

// ---- report ----

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The values of `pick(run)` over the rounds of `server` (failed picks left out). */
function valuesOf(runs, server, pick) {
  return runs
    .filter((r) => r.server === server)
    .map((r) => safePick(pick, r))
    .filter(Number.isFinite);
}

/** Median over the rounds of `pick(run)` for `server`. */
function medianOf(runs, server, pick) {
  return median(valuesOf(runs, server, pick));
}

/** The median with digits, and the range over the rounds when there are several: "330 (310-352)". */
function spreadCell(runs, server, pick, digits) {
  const values = valuesOf(runs, server, pick);
  if (values.length === 0) return undefined;
  const mid = fixed(median(values), digits);
  return values.length > 1 ? `${mid} (${fixed(Math.min(...values), digits)}-${fixed(Math.max(...values), digits)})` : mid;
}

function safePick(pick, run) {
  try {
    return pick(run);
  } catch {
    return undefined;
  }
}

/** The headline number of a load phase: MB/s for 8 MiB POST/GET, ops/s otherwise. */
function headline(phase) {
  return /^8MiB (POST|GET)$/.test(phase) ? 'MB/s' : 'ops/s';
}

function renderReport(options, machine, runs, date) {
  const servers = options.servers;
  // The first server against each of the others.
  const [first, ...others] = servers;
  const ratioHeaders = others.map((other) => `${first}/${other}`);
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fixed(a / b, 2)}x` : undefined);
  const withRatios = (cells, value) => [...cells, ...others.map((other) => ratio(value(first), value(other)))];

  const phases = runs.find((r) => r.load)?.load.phases.map((p) => p.phase) ?? [];
  const loadRows = phases.map((phase) => {
    const unit = headline(phase);
    const pick = (r) => {
      const p = r.load.phases.find((x) => x.phase === phase);
      return unit === 'MB/s' ? p.mbPerSec : p.opsPerSec;
    };
    const value = (server) => medianOf(runs, server, pick);
    const errors = (server) =>
      runs.filter((r) => r.server === server).reduce((n, r) => n + (r.load?.phases.find((x) => x.phase === phase)?.errors ?? 0), 0);
    const cells = servers.map((s) => `${spreadCell(runs, s, pick, 0) ?? '-'}${errors(s) ? ` [${errors(s)} errors]` : ''}`);
    return withRatios([`${phase} ${unit}`, ...cells], value);
  });

  const cpuRows = phases.map((phase) => [
    phase,
    ...servers.map((s) =>
      ['serverCpuPct', 'clientCpuPct', 'otherCpuPct']
        .map((key) => fixed(medianOf(runs, s, (r) => r.load.phases.find((x) => x.phase === phase)[key]), 0) ?? '-')
        .join(' / '),
    ),
  ]);

  const steps = runs.find((r) => r.restic)?.restic.steps.map((s) => s.step) ?? [];
  const resticRows = steps.map((step) => {
    const pick = (r) => r.restic.steps.find((s) => s.step === step).seconds;
    const seconds = (server) => medianOf(runs, server, pick);
    return withRatios([step, ...servers.map((s) => spreadCell(runs, s, pick, 2))], seconds);
  });

  const rssRow = (label, pick) => [label, ...servers.map((s) => mib(medianOf(runs, s, pick)))];
  const rssRows = [
    rssRow('8 MiB load phases', (r) => r.load.peakRssLargeBytes),
    rssRow('4 KiB load phases', (r) => r.load.peakRssSmallBytes),
    rssRow('restic steps', (r) => r.restic.peakRssBytes),
    rssRow('VmHWM at end', (r) => r.restic.vmHwmBytes ?? r.load.vmHwmBytes),
  ];
  // The highest figure any phase of any round reached: the target holds for the whole bench.
  const peakRss = Math.max(
    ...runs
      .filter((r) => r.server === first)
      .flatMap((r) => [r.load?.peakRssLargeBytes, r.load?.peakRssSmallBytes, r.restic?.peakRssBytes])
      .filter(Number.isFinite),
  );
  const loadAverages = runs.map((r) => `${r.server} round ${r.round}: ${fixed(r.loadAverage, 1)}`).join(', ');

  const dataset = runs.find((r) => r.restic)?.restic.dataset;
  const labels = servers.map((s) => SERVERS[s].label);
  return [
    `## Results (${date.slice(0, 16).replace('T', ' ')} UTC, ${options.rounds} round(s)${options.quick ? ', --quick' : ''})`,
    '',
    `Servers: ${servers.map((s, i) => `${s} = \`${labels[i]}\``).join('; ')}.` +
      (options.nice !== undefined ? ` Everything ran at nice ${options.nice}.` : '') +
      (options.dropCaches ? ' The page cache was dropped before each server\'s run.' : ''),
    `Machine: ${machine.cpu}, ${machine.nproc} CPUs, ${machine.memory}, ${machine.kernel}; ${machine.node}; ${machine.restic}; ${machine.rclone}; temp dir on: ${machine.tmpDisk}.`,
    `1-minute load average at the end of each server's run (other work on the machine shows here): ${loadAverages}.`,
    '',
    `### Load (bench/load.mjs), higher is better${options.rounds > 1 ? '; median (min-max) over the rounds' : ''}`,
    '',
    markdownTable(['phase', ...servers, ...ratioHeaders], loadRows),
    '',
    `### CPU during the load phases (% of one core; ${machine.nproc} cores in all; "others" = other processes on the machine)`,
    '',
    markdownTable(['phase', ...servers.map((s) => `${s}: server / client / others`)], cpuRows),
    '',
    `### restic (bench/restic.mjs), seconds, lower is better${options.rounds > 1 ? '; median (min-max)' : ''}${dataset ? `: ${dataset.files} files, ${mib(dataset.bytes)} MiB` : ''}`,
    '',
    markdownTable(['step', ...servers, ...ratioHeaders.map((h) => `${h} time`)], resticRows),
    '',
    '### Server peak RSS (MiB)',
    '',
    markdownTable(['during', ...servers], rssRows),
    '',
    `Target for ${first}: peak RSS through the whole bench below ${mib(RSS_TARGET_BYTES)} MiB: ` +
      (Number.isFinite(peakRss) ? (peakRss < RSS_TARGET_BYTES ? `met (${mib(peakRss)} MiB)` : `NOT met (${mib(peakRss)} MiB)`) : 'not measured'),
    ...(runs.some((r) => r.failed) ? ['', `FAILED runs: ${runs.filter((r) => r.failed).map((r) => `${r.server} round ${r.round}`).join(', ')}`] : []),
  ].join('\n');
}

function markdownTable(headers, rows) {
  return formatTable(headers, rows, { markdown: true });
}

runMain('run-all.mjs', main);
