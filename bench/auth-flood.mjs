#!/usr/bin/env node
// Password-flood benchmark: the latency of a logged-in (cached) user's HEAD while attackers send
// wrong passwords, against the same server with no flood, in the same run, alternating rounds.
//
//   node bench/auth-flood.mjs [--root DIR] [--attackers 32] [--rounds 3] [--seconds 5] [--cost 10]
//
// It starts `DIR/cli/dist/bin.js serve` (DIR: this checkout, or another built one, e.g. an older
// commit, to compare) on a fresh temp store with an htpasswd file made by `htpasswd -B -C COST`.
// Each round has three phases:
//   quiet     no attackers
//   flood     N attackers, each from its own loopback address (127.0.2.x), new connection per try
//   rotating  N attackers, each try from a new loopback address, so no per-address penalty applies
// The victim sends sequential HEADs of an existing file over one keep-alive connection.
// Prints p50/p99 per phase (median over rounds) and each flood phase's ratio to quiet.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { fixed, formatTable } from './lib/table.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const USAGE = `usage: node bench/auth-flood.mjs [options]
  --root DIR       the checkout whose built server to run (default: this one)
  --attackers N    concurrent clients sending wrong passwords (default 32)
  --rounds N       rounds of quiet / flood / rotating (default 3)
  --seconds S      length of each phase (default 5)
  --cost N         bcrypt cost of the htpasswd file (default 10)
  --json           print the results as JSON`;

const OPTIONS = {
  root: { type: 'string' },
  attackers: { type: 'string' },
  rounds: { type: 'string' },
  seconds: { type: 'string' },
  cost: { type: 'string' },
  json: { type: 'boolean', default: false },
};

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/** Start the server and resolve once it answers. */
async function startServer(root, dir, port) {
  const bin = join(root, 'cli', 'dist', 'bin.js');
  const child = spawn(process.execPath, [bin, 'serve', '--path', dir, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    const up = await send({ port, method: 'HEAD', path: '/' }).then(() => true, () => false);
    if (up) return child;
    await sleep(50);
  }
  child.kill();
  throw new Error(`server did not start: ${stderr}`);
}

/** One request; resolves to its status. */
function send({ port, method, path, headers = {}, agent = false, localAddress, body }) {
  return new Promise((done, fail) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent, ...(localAddress ? { localAddress } : {}) });
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
    });
    req.end(body);
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function phase({ port, victim, attackers, seconds, mode }) {
  let running = true;
  const statuses = {};
  let next = 0;
  const attack = async (i) => {
    while (running) {
      const n = next++;
      const localAddress = mode === 'rotating' ? `127.${3 + ((n >> 16) & 0x7f)}.${(n >> 8) & 0xff}.${(n & 0xff) || 1}` : `127.0.2.${i + 1}`;
      const status = await send({
        port, method: 'HEAD', path: '/bench/config', localAddress,
        headers: { authorization: basic(`nobody${i}`, `guess-${n}`) },
      }).catch(() => 'error');
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const flood = mode === 'quiet' ? [] : Array.from({ length: attackers }, (_, i) => attack(i));
  if (flood.length) await sleep(500); // let the flood build up
  const times = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const started = performance.now();
    const status = await victim();
    if (status !== 200) throw new Error(`victim got ${status}`);
    times.push(performance.now() - started);
  }
  running = false;
  await Promise.all(flood);
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), requests: times.length, attackerAnswers: statuses };
}

async function main(argv) {
  const { values, integer } = parseCommandLine('auth-flood', USAGE, argv, OPTIONS);
  const root = resolve(values.root ?? join(HERE, '..'));
  const attackers = integer('attackers') ?? 32;
  const rounds = integer('rounds') ?? 3;
  const seconds = integer('seconds') ?? 5;
  const cost = integer('cost', 4) ?? 10;

  const dir = await mkdtemp(join(tmpdir(), 'pyrs-auth-flood-'));
  let child;
  try {
    execFileSync('htpasswd', ['-bcB', '-C', String(cost), join(dir, '.htpasswd'), 'alice', 'alice-pw'], { stdio: 'ignore' });
    const port = await freePort();
    child = await startServer(root, dir, port);
    const authorization = basic('alice', 'alice-pw');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const created = await send({ port, method: 'POST', path: '/bench/?create=true', headers: { authorization }, agent });
    if (created !== 200) throw new Error(`creating the repository: ${created}`);
    const config = await send({ port, method: 'POST', path: '/bench/config', headers: { authorization }, agent, body: Buffer.alloc(155, 1) });
    if (config !== 200) throw new Error(`uploading the config: ${config}`);
    const victim = () => send({ port, method: 'HEAD', path: '/bench/config', headers: { authorization }, agent });
    await victim(); // logs in: from now on the credentials are cached

    const modes = ['quiet', 'flood', 'rotating'];
    const results = Object.fromEntries(modes.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      for (const mode of modes) results[mode].push(await phase({ port, victim, attackers, seconds, mode }));
    }
    agent.destroy();
    const summary = Object.fromEntries(
      modes.map((mode) => [mode, {
        p50: median(results[mode].map((x) => x.p50)),
        p99: median(results[mode].map((x) => x.p99)),
        requests: results[mode].reduce((n, x) => n + x.requests, 0),
        attackerAnswers: results[mode].reduce((acc, x) => {
          for (const [k, v] of Object.entries(x.attackerAnswers)) acc[k] = (acc[k] ?? 0) + v;
          return acc;
        }, {}),
      }]),
    );
    const out = { root, attackers, rounds, seconds, cost, phases: summary, rounds_detail: results };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      const quiet = summary.quiet;
      const rows = modes.map((mode) => {
        const s = summary[mode];
        return [
          mode, fixed(s.p50, 2), fixed(s.p99, 2),
          mode === 'quiet' ? '1.00' : fixed(s.p50 / quiet.p50, 2), mode === 'quiet' ? '1.00' : fixed(s.p99 / quiet.p99, 2),
          String(s.requests),
          Object.entries(s.attackerAnswers).map(([k, v]) => `${k}:${v}`).join(' ') || '-',
        ];
      });
      console.log(`server: ${root}; ${attackers} attackers; bcrypt cost ${cost}; ${rounds} rounds of ${seconds} s per phase (medians over rounds)`);
      console.log(formatTable(['phase', 'p50 ms', 'p99 ms', 'p50 x quiet', 'p99 x quiet', 'victim requests', 'attacker answers'], rows));
    }
    return 0;
  } finally {
    child?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

runMain('auth-flood', main);
