#!/usr/bin/env node
/**
 * Listing a large repository over HTTP, ours and rest-server on the same on-disk repository,
 * alternating: `GET /{repo}/data/` with the v2 listing (names and sizes), as restic asks.
 *
 *   pnpm run build && node bench/list-large.mjs [--count 100000] [--rounds 5] [--changing]
 *
 * Ours keeps the listings of unchanged folders (folder-cache.ts in the local backend: told of
 * changes by the kernel), so its later listings of this untouched repository come from that
 * cache; with `--changing` every folder's times are renewed before each listing (as while
 * backups write into the repository; the kernel reports it as a change), so that every
 * listing reads the folders again, as rest-server's do.
 *
 * Creates `count` data blobs (hard links to 13 small files) in rest-server's layout under a
 * temporary folder, starts both servers on it, then times each listing (ms, median and range)
 * and checks that both list every blob. Removes the folder at the end.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { shebangCommand } from './lib/proc.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OURS_BIN = path.join(HERE, '..', 'cli', 'dist', 'bin.js');
const REST_SERVER_BIN = process.env.REST_SERVER_BIN ?? path.join(HERE, '..', '..', 'shared', 'peers', 'rest-server');
const V2 = 'application/vnd.x.restic.rest.v2';

const USAGE = `usage: node bench/list-large.mjs [--count N] [--rounds N] [--changing]`;

async function main(argv) {
  const { values, integer } = parseCommandLine('list-large.mjs', USAGE, argv, {
    count: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '5' },
    changing: { type: 'boolean', default: false },
  });
  const count = integer('count');
  const rounds = integer('rounds');
  for (const bin of [OURS_BIN, REST_SERVER_BIN]) if (!existsSync(bin)) throw new Error(`${bin} does not exist`);
  const root = mkdtempSync(path.join(os.tmpdir(), 'pyrs-bench-list-'));
  const servers = [];
  try {
    const repo = path.join(root, 'big');
    for (const type of ['keys', 'locks', 'snapshots', 'index']) mkdirSync(path.join(repo, type), { recursive: true });
    for (let i = 0; i < 256; i++) mkdirSync(path.join(repo, 'data', i.toString(16).padStart(2, '0')), { recursive: true });
    writeFileSync(path.join(repo, 'config'), 'x');
    const sources = Array.from({ length: 13 }, (_, size) => path.join(root, `.source-${size}`));
    sources.forEach((file, size) => writeFileSync(file, Buffer.alloc(size)));
    for (let i = 0; i < count; i++) {
      const name = createHash('sha256').update(String(i)).digest('hex');
      linkSync(sources[i % 13], path.join(repo, 'data', name.slice(0, 2), name));
    }
    // An untouched repository, as most are between backups: its folders settle first.
    if (!values.changing) await new Promise((resolve) => setTimeout(resolve, 3500));
    const ours = await start('ours', [...shebangCommand(OURS_BIN), OURS_BIN, 'serve', '--path', root, '--no-auth'], servers);
    const rest = await start('rest-server', [REST_SERVER_BIN, '--path', root, '--no-auth'], servers);
    const times = { ours: [], 'rest-server': [] };
    for (let r = 0; r < rounds + 1; r++) {
      for (const server of r % 2 ? [rest, ours] : [ours, rest]) {
        if (values.changing) {
          const now = new Date();
          for (let i = 0; i < 256; i++) utimesSync(path.join(repo, 'data', i.toString(16).padStart(2, '0')), now, now);
        }
        const { ms, entries } = await list(server.port);
        if (entries !== count) throw new Error(`${server.name} listed ${entries} blobs, expected ${count}`);
        if (r > 0) times[server.name].push(ms); // round 0 warms caches and JIT
      }
    }
    const cell = (v) => `${median(v).toFixed(0)} ms (${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)})`;
    console.log(`listing ${count} data blobs (v2), ${rounds} rounds, alternating${values.changing ? ', every folder changed before each listing' : ''}:`);
    console.log(`  ours         ${cell(times.ours)}`);
    console.log(`  rest-server  ${cell(times['rest-server'])}`);
    console.log(`  ours/rest-server time: ${(median(times.ours) / median(times['rest-server'])).toFixed(2)}x`);
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
}


const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function start(name, argv, servers) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(argv[0], [...argv.slice(1), '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  servers.push({ child });
  for (let i = 0; i < 100; i++) {
    if ((await status(port)) !== undefined) return { name, port };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not start`);
}

function status(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'HEAD' }, (res) => (res.resume(), resolve(res.statusCode)));
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

function list(port) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/big/data/', headers: { accept: V2 } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        resolve({ ms, entries: JSON.parse(Buffer.concat(chunks).toString()).length });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

runMain('list-large.mjs', main);
