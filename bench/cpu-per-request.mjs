#!/usr/bin/env node
/**
 * Server CPU time per request, ours beside rest-server on the same on-disk repository, in
 * the same run: HEAD and GET of a 4 KiB blob, and the v2 listings of data/ with 48 and 4,000 blobs, with 16
 * keep-alive requests in flight. CPU time (utime + stime of the server process, from /proc)
 * is far less sensitive to other load on the machine than throughput; each figure is the
 * lowest of `--runs` runs of `--count` requests, servers alternating.
 *
 *   pnpm run build && node bench/cpu-per-request.mjs [--count 20000] [--runs 3]
 *
 * OURS_BASE_BIN=/elsewhere/cli/dist/bin.js adds another build of ours (a checkout before a
 * change), for A/B figures from the same run.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { shebangCommand } from './lib/proc.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OURS_BIN = path.join(HERE, '..', 'cli', 'dist', 'bin.js');
const OURS_BASE_BIN = process.env.OURS_BASE_BIN;
const REST_SERVER_BIN = process.env.REST_SERVER_BIN ?? path.join(HERE, '..', '..', 'shared', 'peers', 'rest-server');
const V2 = 'application/vnd.x.restic.rest.v2';
const CLK_TCK = 100;


async function main(argv) {
  const { integer } = parseCommandLine('cpu-per-request.mjs', 'usage: node bench/cpu-per-request.mjs [--count N] [--runs N]', argv, {
    count: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
  });
  const count = integer('count');
  const runs = integer('runs');
  for (const bin of [OURS_BIN, REST_SERVER_BIN, OURS_BASE_BIN]) if (bin && !existsSync(bin)) throw new Error(`${bin} does not exist`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pyrs-bench-cpu-'));
  const servers = [];
  try {
    servers.push(await start('ours', [...shebangCommand(OURS_BIN), OURS_BIN, 'serve', '--path', dir, '--no-auth']));
    servers.push(await start('rest-server', [REST_SERVER_BIN, '--path', dir, '--no-auth']));
    if (OURS_BASE_BIN) servers.push(await start('base', [...shebangCommand(OURS_BASE_BIN), OURS_BASE_BIN, 'serve', '--path', dir, '--no-auth']));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const port = servers[0].port;
    await send(agent, port, 'POST', '/r/?create=true');
    let blob;
    for (let i = 0; i < 48; i++) {
      const body = randomBytes(4096);
      const name = createHash('sha256').update(body).digest('hex');
      await send(agent, port, 'POST', `/r/data/${name}`, body);
      blob ??= name;
    }
    await send(agent, port, 'POST', '/big/?create=true');
    for (let i = 0; i < 4000; i += 16) {
      await Promise.all(Array.from({ length: 16 }, () => {
        const body = randomBytes(4096);
        return send(agent, port, 'POST', `/big/data/${createHash('sha256').update(body).digest('hex')}`, body);
      }));
    }
    const ops = [
      ['HEAD 4 KiB', 'HEAD', `/r/data/${blob}`, count],
      ['GET 4 KiB', 'GET', `/r/data/${blob}`, count],
      ['list 48 blobs (v2)', 'GET', '/r/data/', Math.ceil(count / 10)],
      ['list 4,000 blobs (v2)', 'GET', '/big/data/', Math.ceil(count / 200)],
    ];
    const base = OURS_BASE_BIN ? ' base |' : '';
    console.log(`server CPU µs per request, lowest of ${runs} runs, servers alternating (16 in flight)`);
    console.log(`| request | ours | rest-server |${base} ours/rest-server |${OURS_BASE_BIN ? ' ours/base |' : ''}`);
    console.log(`|---|--:|--:|${OURS_BASE_BIN ? '--:|' : ''}--:|${OURS_BASE_BIN ? '--:|' : ''}`);
    for (const [label, method, url, n] of ops) {
      const best = {};
      for (let r = 0; r < runs + 1; r++) {
        for (const server of r % 2 ? [...servers].reverse() : servers) {
          const us = await measure(agent, server, method, url, n);
          if (r > 0) best[server.name] = Math.min(best[server.name] ?? Infinity, us); // run 0 warms up
        }
      }
      const vsBase = OURS_BASE_BIN ? ` ${best.base.toFixed(1)} |` : '';
      const ratioBase = OURS_BASE_BIN ? ` ${(best.ours / best.base).toFixed(2)}x |` : '';
      console.log(`| ${label} | ${best.ours.toFixed(1)} | ${best['rest-server'].toFixed(1)} |${vsBase} ${(best.ours / best['rest-server']).toFixed(2)}x |${ratioBase}`);
    }
    agent.destroy();
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function measure(agent, server, method, url, n) {
  const before = cpuTicks(server.child.pid);
  let next = 0;
  const worker = async () => {
    while (next++ < n) {
      const res = await send(agent, server.port, method, url, undefined, method === 'GET' && url.endsWith('/') ? { accept: V2 } : {});
      if (res !== 200) throw new Error(`${server.name}: ${method} ${url}: HTTP ${res}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return ((cpuTicks(server.child.pid) - before) / CLK_TCK / n) * 1e6;
}

function send(agent, port, method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent, headers: { ...headers, ...(body ? { 'content-length': body.length } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function start(name, argv) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(argv[0], [...argv.slice(1), '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', method: 'HEAD' }, (res) => (res.resume(), resolve(true)));
      req.on('error', () => resolve(false));
      req.end();
    });
    if (up) return { name, port, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error(`${name} did not start`);
}

runMain('cpu-per-request.mjs', main);
