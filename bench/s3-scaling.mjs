#!/usr/bin/env node
// One `pyrestserver serve --backend s3` against three behind HAProxy (round-robin), over the same
// S3 store (Ceph RGW), in one run, alternating rounds: K restic clients back up the bench data set
// into K repositories at once, then restore them at once; wall time and throughput of each phase.
//
//   eval "$(../shared/s3/ceph-rgw.sh start /tmp/rgw 7480)"
//   pnpm run build && node --conditions=pyrestserver-source --import tsx bench/s3-scaling.mjs \
//        [--instances 1,3] [--clients 3] [--rounds 2] [--size-mib 64]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { ensureDataset } from './lib/dataset.mjs';
import { fixed } from './lib/table.mjs';
import { s3Env, tempBucket } from '../plugins/backend-s3/test/support/rgw.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'cli', 'dist', 'bin.js');
const PASSWORD = 'pyrestserver-bench';
const log = (m) => console.error(`[s3-scaling] ${m}`);

const USAGE = `usage: node --conditions=pyrestserver-source --import tsx bench/s3-scaling.mjs [options]
  needs S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY; haproxy and restic on PATH
  --instances LIST  instance counts to compare (default 1,3; more than 1 goes behind HAProxy)
  --clients N       restic clients at once (default 3)
  --rounds N        rounds, order alternating (default 2)
  --size-mib N      data set per client (default 64)`;

async function main(argv) {
  const { values, integer } = parseCommandLine('s3-scaling.mjs', USAGE, argv, {
    instances: { type: 'string', default: '1,3' },
    clients: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    'size-mib': { type: 'string', default: '64' },
    data: { type: 'string', default: join(ROOT, '.bench', 'dataset-s3') },
  });
  const env = s3Env();
  const counts = values.instances.split(',').map(Number);
  const clients = integer('clients');
  const dataset = await ensureDataset(values.data, { sizeMiB: integer('size-mib'), seed: 1 });
  const runs = [];
  for (let round = 1; round <= integer('rounds'); round++) {
    for (const n of round % 2 ? counts : [...counts].reverse()) {
      log(`round ${round}: ${n} instance(s), ${clients} clients`);
      runs.push({ instances: n, round, ...(await benchFleet(env, n, clients, dataset)) });
    }
  }
  const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const rows = counts.map((n) => {
    const mine = runs.filter((r) => r.instances === n);
    const cell = (key) => `${fixed(median(mine.map((r) => r[key])), 1)} s (${mine.map((r) => fixed(r[key], 1)).join(', ')})`;
    const mbps = (key) => fixed((clients * dataset.bytes) / 1e6 / median(mine.map((r) => r[key])), 0);
    return `| ${n} | ${cell('backup')} | ${mbps('backup')} | ${cell('restore')} | ${mbps('restore')} |`;
  });
  process.stdout.write(
    [
      `## ${clients} restic clients at once, ${fixed(dataset.bytes / 2 ** 20, 0)} MiB each (${dataset.files} files), ${os.availableParallelism()} CPUs`,
      '',
      '| instances | backup (median, rounds) | backup MB/s | restore | restore MB/s |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
  return runs.some((r) => r.failed) ? 1 : 0;
}

async function benchFleet(env, n, clients, dataset) {
  const store = await tempBucket(`scale${n}`, env);
  const work = await mkdtemp(join(os.tmpdir(), 'pyrs-s3-scaling-'));
  const children = [];
  try {
    const ports = [];
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      ports.push(port);
      children.push(spawnQuiet(process.execPath, [BIN, 'serve', '--backend', 's3', '--listen', `127.0.0.1:${port}`, '--no-auth'], {
        S3_BUCKET: store.bucket, S3_PREFIX: 'scale', S3_ENDPOINT: env.endpoint, AWS_REGION: env.region,
        AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
      }));
    }
    for (const port of ports) await waitFor(port);
    let port = ports[0];
    if (n > 1) {
      port = await freePort();
      const cfg = join(work, 'haproxy.cfg');
      await writeFile(cfg, `defaults\n  mode http\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\nfrontend f\n  bind 127.0.0.1:${port}\n  default_backend b\nbackend b\n  balance roundrobin\n${ports.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}\n`);
      children.push(spawnQuiet('haproxy', ['-db', '-f', cfg], {}));
      await waitFor(port);
    }
    const repo = (i) => `rest:http://127.0.0.1:${port}/client${i}`;
    const all = (args) => Promise.all(Array.from({ length: clients }, (_, i) => restic([...args(i)], repo(i), dataset.tree)));
    await all(() => ['init']);
    let t = Date.now();
    await all(() => ['backup', '--host', 'bench', '.']);
    const backup = (Date.now() - t) / 1000;
    t = Date.now();
    await all((i) => ['restore', 'latest', '--target', join(work, `restore-${i}`)]);
    const restore = (Date.now() - t) / 1000;
    return { backup, restore, failed: false };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await store.destroy().catch((err) => log(`bucket clean-up: ${err.message}`));
    await rm(work, { recursive: true, force: true });
  }
}

function spawnQuiet(cmd, args, extraEnv) {
  const child = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, ...extraEnv } });
  child.on('error', (err) => log(`${cmd}: ${err.message}`));
  return child;
}

function restic(args, repo, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('restic', ['--repo', repo, '--no-cache', ...args], { cwd, env: { ...process.env, RESTIC_PASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`restic ${args[0]} exited ${code}: ${err.slice(-800)}`))));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitFor(port) {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method: 'HEAD', timeout: 1000 }, (res) => (res.resume(), resolve(true)));
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers on port ${port}`);
}

runMain('s3-scaling.mjs', main);
