#!/usr/bin/env node
// restic end-to-end timings against a REST server: init, backup (cold), backup again (no changes),
// restore, check --read-data, of a deterministic generated data set (restored bytes are verified).
//
//   node bench/restic.mjs --url http://127.0.0.1:8000/resticrepo [--user u --password p] [--pid N]
//                         [--data DIR] [--size-mib 200] [--seed 1] [--json]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain, TARGET_OPTIONS, targetValues } from './lib/cli.mjs';
import { describeDifferences, ensureDataset, treeDigest } from './lib/dataset.mjs';
import { redactUrl } from './lib/http.mjs';
import { readMemory, startRssSampler } from './lib/proc.mjs';
import { fixed, formatTable, mib } from './lib/table.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
// A throwaway repository password for benchmark repositories; passed to restic through its environment.
const REPO_PASSWORD = 'pyrestserver-bench';
const HOST = 'pyrestserver-bench';

const USAGE = `usage: node bench/restic.mjs --url URL [options]
  --url URL              REST repository URL (restic uses rest:URL)
  --user U --password P  credentials (or put them in the URL)
  --pid N                server process id: report its peak RSS per step
  --data DIR             where the generated data set is kept and reused (default .bench/dataset)
  --size-mib N           data set size in MiB (default 200)
  --seed N               data set seed (default 1)
  --json                 print the results as JSON instead of a table`;

async function main(argv) {
  const options = parseOptions(argv);
  const dataset = await ensureDataset(options.data, { sizeMiB: options.sizeMiB, seed: options.seed });
  const work = await mkdtemp(join(tmpdir(), 'pyrestserver-bench-restic-'));
  const sampler = options.pid ? startRssSampler(options.pid, 50) : undefined;
  try {
    const env = {
      ...process.env,
      RESTIC_REPOSITORY: `rest:${repoUrl(options)}`,
      RESTIC_PASSWORD: REPO_PASSWORD,
      RESTIC_CACHE_DIR: join(work, 'cache'),
    };
    const restic = (args) => runRestic(args, env);
    const version = (await restic(['version'])).stdout.trim();
    const restoreDir = join(work, 'restore');
    const steps = [];
    const step = async (name, args, check = () => undefined) => {
      sampler?.takeWindow();
      const started = performance.now();
      const out = await restic(args);
      const seconds = (performance.now() - started) / 1000;
      steps.push({ step: name, seconds, peakRssBytes: sampler?.takeWindow(), ...check(out) });
    };
    await step('init', ['init']);
    await step('backup (cold)', ['backup', '--json', '--host', HOST, dataset.tree], backupSummary);
    await step('backup (unchanged)', ['backup', '--json', '--host', HOST, dataset.tree], backupSummary);
    let restoreLog = '';
    await step('restore', ['restore', 'latest', '--target', restoreDir], ({ stderr }) => {
      restoreLog = stderr;
      return {};
    });
    const restoredTree = join(restoreDir, dataset.tree);
    if ((await treeDigest(restoredTree)) !== dataset.digest) {
      const { count, lines } = await describeDifferences(dataset.tree, restoredTree);
      throw new Error(
        `the restored files differ from the backed-up data set in ${count} file(s):\n${lines.join('\n')}\n` +
          `restic restore said (exit 0):\n${redactSecrets(lastLines(restoreLog, 10), env)}`,
      );
    }
    await step('check --read-data', ['check', '--read-data']);

    const result = {
      url: redactUrl(options.url),
      restic: version,
      dataset: { files: dataset.files, bytes: dataset.bytes, sizeMiB: options.sizeMiB, seed: options.seed },
      restoreVerified: true,
      steps,
      peakRssBytes: sampler?.overallPeak,
      vmHwmBytes: options.pid && !sampler.gone ? readMemory(options.pid).hwm : undefined,
    };
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${render(result)}\n`);
    return 0;
  } finally {
    sampler?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function parseOptions(argv) {
  const parsed = parseCommandLine('restic.mjs', USAGE, argv, {
    ...TARGET_OPTIONS,
    data: { type: 'string', default: join(HERE, '..', '.bench', 'dataset') },
    'size-mib': { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
  });
  const { values, integer } = parsed;
  return {
    ...targetValues(parsed),
    data: values.data,
    sizeMiB: integer('size-mib'),
    seed: integer('seed', 0),
  };
}

/** The repository URL with --user/--password put into it (restic 0.14 reads credentials only there). */
function repoUrl({ url, user, password }) {
  const parsed = new URL(url);
  if (user !== undefined) parsed.username = encodeURIComponent(user);
  if (password !== undefined) parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** Runs restic with `args`; resolves to { stdout, stderr }, rejects (without secrets) when it fails. */
/** The restic process running now; SIGINT/SIGTERM stop it, so the run fails and cleans up. */
let current;
let interrupted;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = signal;
    current?.kill('SIGTERM');
  });
}

function runRestic(args, env) {
  return new Promise((resolve, reject) => {
    if (interrupted) return reject(new Error(`interrupted by ${interrupted}`));
    const child = spawn('restic', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', (err) =>
      reject(new Error(err.code === 'ENOENT' ? 'restic is not installed (no "restic" on PATH)' : err.message)),
    );
    child.on('close', (code, signal) => {
      current = undefined;
      const out = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
      if (code === 0) return resolve(out);
      const tail = redactSecrets(lastLines(out.stderr, 5), env);
      reject(new Error(`restic ${args[0]} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}

function lastLines(text, count) {
  return text.trim().split('\n').slice(-count).join('\n');
}

function redactSecrets(text, env) {
  const url = new URL(env.RESTIC_REPOSITORY.slice('rest:'.length));
  return url.password ? text.split(url.password).join('***') : text;
}

/** The numbers from `restic backup --json`'s summary line. */
function backupSummary({ stdout }) {
  const summary = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .find((message) => message.message_type === 'summary');
  if (!summary) throw new Error('restic backup printed no summary');
  return { filesNew: summary.files_new, filesUnmodified: summary.files_unmodified, dataAddedBytes: summary.data_added };
}

function render(result) {
  const rows = result.steps.map((s) => [
    s.step,
    fixed(s.seconds, 2),
    s.dataAddedBytes === undefined ? undefined : mib(s.dataAddedBytes),
    s.peakRssBytes === undefined ? undefined : mib(s.peakRssBytes),
  ]);
  const { files, bytes } = result.dataset;
  return [
    `restic benchmark against ${result.url}: ${files} files, ${mib(bytes)} MiB (${result.restic})`,
    formatTable(['step', 'seconds', 'data added MiB', 'srv peak RSS MiB'], rows),
    'restore verified: the restored tree equals the data set',
  ].join('\n');
}

runMain('restic.mjs', main);
