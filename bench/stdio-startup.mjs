#!/usr/bin/env node
// `serve --stdio` start-up: restic starts the server for every command, so the time from
// spawn to the first answer counts. Measures, alternating runs: spawn -> the answer to
// restic's probe (GET /file-<n> over HTTP/2 on the pipe), the server's CPU time up to then,
// and close -> exit; `--version` (spawn -> exit) as the floor of starting Node and the CLI.
//
//   pnpm run build && node bench/stdio-startup.mjs [--runs 20] [--json]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { readCpuSeconds, shebangCommand } from './lib/proc.mjs';
import { fixed, formatTable } from './lib/table.mjs';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'dist', 'bin.js');
// As `pyrestserver` runs: the bin's shebang variables and node flags.
const NODE = [...shebangCommand(BIN), BIN];
const USAGE = 'usage: node bench/stdio-startup.mjs [--runs N] [--json]';

async function main(argv) {
  const { values, integer } = parseCommandLine('stdio-startup.mjs', USAGE, argv, {
    runs: { type: 'string' }, json: { type: 'boolean', default: false },
  });
  const runs = integer('runs', 1) ?? 20;
  const dir = await mkdtemp(join(tmpdir(), 'pyrs-bench-stdio-'));
  const probe = [];
  const cpu = [];
  const exit = [];
  const version = [];
  try {
    for (let i = 0; i < runs; i++) {
      version.push(await timeVersion());
      const r = await timeProbe(dir, i);
      probe.push(r.firstAnswerMs);
      cpu.push(r.cpuMs);
      exit.push(r.exitMs);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: s[0], median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)] };
  };
  const result = {
    runs,
    spawnToFirstAnswerMs: stats(probe),
    serverCpuToFirstAnswerMs: stats(cpu),
    closeToExitMs: stats(exit),
    versionSpawnToExitMs: stats(version),
  };
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`${runs} runs each, alternating; local backend; node ${process.version}`);
    console.log(formatTable(['measure', 'min ms', 'median ms', 'p90 ms'], Object.entries(result).filter(([k]) => k !== 'runs')
      .map(([k, v]) => [k, fixed(v.min, 0), fixed(v.median, 0), fixed(v.p90, 0)])));
  }
  return 0;
}

function timeVersion() {
  const t0 = performance.now();
  const child = spawn(NODE[0], [...NODE.slice(1), '--version'], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', () => resolve(performance.now() - t0)));
}

function timeProbe(dir, i) {
  const t0 = performance.now();
  const child = spawn(NODE[0], [...NODE.slice(1), 'serve', '--stdio', '--path', dir, 'repo'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pipe = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const session = connect('http://localhost', { createConnection: () => pipe });
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': `/file-${i}` });
    req.on('error', reject);
    req.on('response', () => {
      const firstAnswerMs = performance.now() - t0;
      const cpuMs = readCpuSeconds(child.pid) * 1000;
      req.resume();
      req.on('end', () => {
        const t1 = performance.now();
        child.once('exit', () => resolve({ firstAnswerMs, cpuMs, exitMs: performance.now() - t1 }));
        session.close();
        child.stdin.end();
      });
    });
  });
}

runMain('stdio-startup.mjs', main);
