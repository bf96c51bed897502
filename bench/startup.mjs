#!/usr/bin/env node
/**
 * Start-up time, ours beside rest-server, alternating: `--version` (spawn to exit) and
 * `serve` (spawn to the first accepted HTTP request on loopback).
 *
 *   pnpm run build && node bench/startup.mjs [--rounds 10]
 *
 * Ours runs as the installed bin does (`cli/dist/bin.js` with its shebang's node flags).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { shebangCommand } from './lib/proc.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OURS_BIN = path.join(HERE, '..', 'cli', 'dist', 'bin.js');
const REST_SERVER_BIN = process.env.REST_SERVER_BIN ?? path.join(HERE, '..', '..', 'shared', 'peers', 'rest-server');

const USAGE = 'usage: node bench/startup.mjs [--rounds N]';


const COMMANDS = {
  ours: (args) => [...shebangCommand(OURS_BIN), OURS_BIN, ...args],
  'rest-server': (args) => [REST_SERVER_BIN, ...args.filter((a) => a !== 'serve')],
};

async function main(argv) {
  const { integer } = parseCommandLine('startup.mjs', USAGE, argv, { rounds: { type: 'string', default: '10' } });
  const rounds = integer('rounds');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pyrs-bench-startup-'));
  const times = {};
  try {
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 ? ['rest-server', 'ours'] : ['ours', 'rest-server']) {
        const cmd = COMMANDS[name];
        (times[`${name} --version`] ??= []).push(await untilExit(cmd(['--version'])));
        (times[`${name} serve`] ??= []).push(await untilServing(cmd(['serve', '--path', dir, '--no-auth'])));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`start-up, ${rounds} rounds alternating, ms: median (min-max)`);
  for (const [label, values] of Object.entries(times)) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`  ${label.padEnd(22)} ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} (${sorted[0].toFixed(0)}-${sorted.at(-1).toFixed(0)})`);
  }
}

function untilExit(argv) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

async function untilServing(argv) {
  const port = 20000 + Math.floor(Math.random() * 30000);
  const started = performance.now();
  const child = spawn(argv[0], [...argv.slice(1), '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${argv.join(' ')} exited ${child.exitCode}`);
      if (await answers(port)) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function answers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'HEAD' }, (res) => (res.resume(), resolve(true)));
    req.on('error', () => resolve(false));
    req.end();
  });
}

runMain('startup.mjs', main);
