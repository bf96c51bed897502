#!/usr/bin/env node
// pyrestserver --backend s3 against `rclone serve restic` over rclone's S3 backend, both over
// the same real S3 store (Ceph RGW from shared/s3/ceph-rgw.sh), in one run, alternating rounds:
// the load phases (bench/load.mjs), restic end to end (bench/restic.mjs), and the S3 requests
// each restic operation costs, counted by a proxy in front of the store (each server gets a
// proxy and a fresh bucket of its own).
//
//   eval "$(../shared/s3/ceph-rgw.sh start /tmp/rgw 7480)"
//   pnpm run build && node --conditions=pyrestserver-source --import tsx bench/s3.mjs \
//        [--servers ours,rclone] [--rounds 2] [--size-mib 64] [--quick] [--out FILE]
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { ensureDataset } from './lib/dataset.mjs';
import { shebangCommand } from './lib/proc.mjs';
import { fixed } from './lib/table.mjs';
import { CountingProxy } from '../plugins/backend-s3/test/support/counting-proxy.ts';
import { s3Env, tempBucket } from '../plugins/backend-s3/test/support/rgw.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const OURS_BIN = join(ROOT, 'cli', 'dist', 'bin.js');
const OURS_BASE_BIN = process.env.OURS_BASE_BIN;
const PASSWORD = 'pyrestserver-bench';
const QUICK = { count: '1000', 'large-count': '32', passes: '2', lists: '10', duration: '15', warmup: '200' };

/** Our server over the S3 store, run by `bin` as the installed command runs it (its shebang). */
const oursOver = (bin) => (env, endpoint, bucket, port) => ({
  argv: [...shebangCommand(bin), bin, 'serve', '--backend', 's3', '--listen', `127.0.0.1:${port}`, '--no-auth'],
  env: {
    S3_BUCKET: bucket, S3_PREFIX: 'bench', S3_ENDPOINT: endpoint, AWS_REGION: env.region,
    AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
  },
});

const SERVERS = {
  ours: { label: 'pyrestserver --backend s3', start: oursOver(OURS_BIN) },
  // OURS_BASE_BIN=/elsewhere/cli/dist/bin.js: another build of ours, for an A/B of a change.
  base: { label: 'pyrestserver --backend s3 (base build)', start: oursOver(OURS_BASE_BIN) },
  rclone: {
    label: 'rclone serve restic (S3 backend)',
    start: (env, endpoint, bucket, port) => ({
      argv: ['rclone', 'serve', 'restic', '--addr', `127.0.0.1:${port}`, `:s3:${bucket}/bench`],
      env: {
        RCLONE_S3_PROVIDER: 'Ceph', RCLONE_S3_ENDPOINT: endpoint, RCLONE_S3_REGION: env.region,
        RCLONE_S3_ACCESS_KEY_ID: env.accessKeyId, RCLONE_S3_SECRET_ACCESS_KEY: env.secretAccessKey,
        RCLONE_CONFIG: '/dev/null',
      },
      unset: ['AWS_CA_BUNDLE'],
    }),
  },
};

const USAGE = `usage: node --conditions=pyrestserver-source --import tsx bench/s3.mjs [options]
  needs S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (a Ceph RGW: shared/s3/ceph-rgw.sh)
  --servers LIST   from: ${Object.keys(SERVERS).join(', ')} (default ours,rclone; base: OURS_BASE_BIN)
  --rounds N       rounds, the order alternating (default 2)
  --size-mib N     restic data set (default 64)
  --quick          shorter load phases
  --data DIR       data set folder (default .bench/dataset-s3)
  --out FILE       raw results (default .bench/s3-results-<date>.json)`;

const log = (m) => console.error(`[bench-s3] ${m}`);

async function main(argv) {
  const { values, integer } = parseCommandLine('s3.mjs', USAGE, argv, {
    servers: { type: 'string', default: 'ours,rclone' },
    rounds: { type: 'string', default: '2' },
    'size-mib': { type: 'string', default: '64' },
    quick: { type: 'boolean', default: false },
    data: { type: 'string', default: join(ROOT, '.bench', 'dataset-s3') },
    out: { type: 'string' },
  });
  const env = s3Env();
  const servers = values.servers.split(',');
  for (const name of servers) if (!SERVERS[name]) throw new Error(`unknown server ${JSON.stringify(name)} (from: ${Object.keys(SERVERS).join(', ')})`);
  if (servers.includes('base') && !OURS_BASE_BIN) throw new Error('base: set OURS_BASE_BIN to the cli/dist/bin.js of the base build');
  const options = { sizeMiB: integer('size-mib'), data: values.data, load: values.quick ? QUICK : {} };
  options.dir = (await ensureDataset(options.data, { sizeMiB: options.sizeMiB, seed: 1 })).tree;
  const runs = [];
  for (let round = 1; round <= integer('rounds'); round++) {
    for (const name of round % 2 ? servers : [...servers].reverse()) {
      log(`round ${round}: ${SERVERS[name].label}`);
      runs.push({ server: name, round, ...(await benchServer(name, env, options)) });
    }
  }
  const report = render(servers, runs, options);
  process.stdout.write(`${report}\n`);
  const out = values.out ?? join(ROOT, '.bench', `s3-results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), options, runs }, null, 2)}\n`);
  log(`raw results: ${out}`);
  return runs.some((r) => r.failed) ? 1 : 0;
}

async function benchServer(name, env, options) {
  const store = await tempBucket(`bench-${name}`, env);
  const proxy = await CountingProxy.start(env.endpoint);
  const work = await mkdtemp(join(os.tmpdir(), `pyrs-bench-s3-${name}-`));
  let server;
  try {
    const port = await freePort();
    const spec = SERVERS[name].start(env, proxy.url, store.bucket, port);
    server = await startServer(spec, port, join(work, 'server.log'));
    const base = `http://127.0.0.1:${port}`;
    const args = (record) => Object.entries(record).flatMap(([k, v]) => [`--${k}`, v]);
    proxy.reset();
    const load = await runScript('load.mjs', ['--url', `${base}/benchrepo`, '--pid', String(server.pid), ...args(options.load)]);
    const loadRequests = { ...proxy.counts };
    proxy.reset();
    const restic = await runScript('restic.mjs', ['--url', `${base}/resticrepo`, '--pid', String(server.pid), '--data', options.data, '--size-mib', String(options.sizeMiB)]);
    const resticRequests = { ...proxy.counts };
    const perOperation = await requestsPerOperation(`rest:${base}/ops`, options.dir, proxy, work);
    return { failed: !load.ok || !restic.ok || server.exited(), load: load.result, restic: restic.result, loadRequests, resticRequests, perOperation };
  } finally {
    await server?.stop();
    await proxy.close();
    await store.destroy().catch((err) => log(`bucket clean-up: ${err.message}`));
    await rm(work, { recursive: true, force: true });
  }
}

/** restic operations one by one on a fresh repository, with the S3 requests each cost. */
async function requestsPerOperation(repo, data, proxy, work) {
  const steps = [
    ['init', ['init']],
    ['backup (new repo)', ['backup', '--host', 'bench', '.']],
    ['backup (no change)', ['backup', '--host', 'bench', '.']],
    ['snapshots', ['snapshots']],
    ['check', ['check']],
    ['check --read-data', ['check', '--read-data']],
    ['restore', ['restore', 'latest', '--target', join(work, 'restore')]],
    ['forget --keep-last 1 --prune', ['forget', '--keep-last', '1', '--prune']],
  ];
  const out = [];
  for (const [label, args] of steps) {
    proxy.reset();
    const started = Date.now();
    // Not execFileSync: the counting proxy runs in this process and must keep forwarding.
    await resticRun(['--repo', repo, '--no-cache', ...args], data);
    const counts = { ...proxy.counts };
    out.push({ step: label, seconds: (Date.now() - started) / 1000, total: Object.values(counts).reduce((a, b) => a + b, 0), counts });
  }
  return out;
}

function resticRun(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('restic', args, { cwd, env: { ...process.env, RESTIC_PASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`restic ${args.slice(2).join(' ')} exited ${code}: ${err.slice(-1000)}`))));
  });
}

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function render(servers, runs, options) {
  const of = (server) => runs.filter((r) => r.server === server && !r.failed);
  const cell = (server, pick, digits) => {
    const vals = of(server).map((r) => { try { return pick(r); } catch { return undefined; } }).filter(Number.isFinite);
    if (!vals.length) return '-';
    const m = fixed(median(vals), digits);
    return vals.length > 1 ? `${m} (${fixed(Math.min(...vals), digits)}-${fixed(Math.max(...vals), digits)})` : m;
  };
  const ratio = (pick) => {
    const [a, b] = servers.map((s) => median(of(s).map((r) => { try { return pick(r); } catch { return undefined; } })));
    return Number.isFinite(a) && Number.isFinite(b) && b ? `${fixed(a / b, 2)}x` : '-';
  };
  const table = (headers, rows) => [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const first = runs.find((r) => r.load);
  const phases = first?.load?.phases.map((p) => p.phase) ?? [];
  const unit = (phase) => (/^8MiB (POST|GET)$/.test(phase) ? 'MB/s' : 'ops/s');
  const loadRows = phases.map((phase) => {
    const pick = (r) => { const p = r.load.phases.find((x) => x.phase === phase); return unit(phase) === 'MB/s' ? p.mbPerSec : p.opsPerSec; };
    return [`${phase} ${unit(phase)}`, ...servers.map((s) => cell(s, pick, 0)), ratio(pick)];
  });
  const steps = first?.restic?.steps.map((s) => s.step) ?? [];
  const resticRows = steps.map((step) => {
    const pick = (r) => r.restic.steps.find((s) => s.step === step).seconds;
    return [step, ...servers.map((s) => cell(s, pick, 2)), ratio(pick)];
  });
  const opSteps = first?.perOperation.map((s) => s.step) ?? [];
  const opRows = opSteps.map((step) => [
    step,
    ...servers.map((s) => {
      const r = of(s)[0]?.perOperation.find((x) => x.step === step);
      if (!r) return '-';
      return `${r.total} (${Object.entries(r.counts).map(([k, v]) => `${v} ${k}`).join(', ')})`;
    }),
  ]);
  const total = (pick) => servers.map((s) => { const r = of(s)[0]; return r ? String(Object.values(pick(r)).reduce((a, b) => a + b, 0)) : '-'; });
  return [
    `## S3: ${servers.map((s) => SERVERS[s].label).join(' vs ')} (${runs.length / servers.length} round(s), same RGW, ${new Date().toISOString().slice(0, 16)} UTC)`,
    '',
    `### Load (bench/load.mjs${Object.keys(options.load).length ? ', --quick' : ''}), higher is better; median (min-max)`,
    '',
    table(['phase', ...servers, `${servers[0]}/${servers[1]}`], loadRows),
    '',
    `### restic (bench/restic.mjs, ${options.sizeMiB} MiB), seconds, lower is better`,
    '',
    table(['step', ...servers, `${servers[0]}/${servers[1]}`], resticRows),
    '',
    '### S3 requests per restic operation (first round; restic 0.14, --no-cache)',
    '',
    table(['operation', ...servers], opRows),
    '',
    `S3 requests in all: load phases ${total((r) => r.loadRequests).join(' vs ')}; restic steps ${total((r) => r.resticRequests).join(' vs ')}.`,
  ].join('\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function startServer(spec, port, logFile) {
  const fd = openSync(logFile, 'a');
  const childEnv = { ...process.env, ...spec.env };
  for (const key of spec.unset ?? []) delete childEnv[key];
  const child = spawn(spec.argv[0], spec.argv.slice(1), { stdio: ['ignore', fd, fd], env: childEnv });
  closeSync(fd);
  let exit;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exit = { code, signal }))));
  child.once('error', (err) => (exit = { error: err.message }));
  const stop = async () => {
    if (exit) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  for (const deadline = Date.now() + 30_000; !(await answers(port)); ) {
    if (exit || Date.now() > deadline) {
      await stop();
      throw new Error(`${spec.argv.slice(0, 3).join(' ')} did not start: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { pid: child.pid, stop, exited: () => exit !== undefined };
}

function answers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'HEAD', timeout: 1000 }, (res) => (res.resume(), resolve(true)));
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function runScript(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(HERE, script), ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      let result;
      try { result = JSON.parse(Buffer.concat(out).toString('utf8')); } catch { result = undefined; }
      if (code !== 0) log(`${script} exited with ${code}`);
      resolve({ ok: code === 0 && result !== undefined, result });
    });
  });
}

runMain('s3.mjs', main);
