#!/usr/bin/env node
// Peak RSS of a server while it answers GETs of large blobs, by concurrency: 16 blobs of
// 8 MiB uploaded, then read three times over with 1, 4 and 16 requests in flight (then 1
// again), the server's VmRSS sampled every 10 ms. Targets, each started here with ours'
// shebang (its node flags and malloc variables):
//   local   ours, local backend (a fresh temporary folder)
//   s3      ours, --backend s3 over the store in S3_ENDPOINT (../shared/s3/ceph-rgw.sh), fresh bucket
//   proxy   a bare node:http proxy (each GET piped from an upstream node:http server answering
//           from memory, bench/floor-server.mjs): what relaying a body costs Node itself
//
//   pnpm run build && node --conditions=pyrestserver-source --import tsx bench/get-memory.mjs \
//        [--target local|s3|proxy] [--plain-node]   (--plain-node: `node` without the shebang's settings)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { createRepoClient } from './lib/http.mjs';
import { readMemory, shebangCommand, startRssSampler } from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OURS_BIN = join(HERE, '..', 'cli', 'dist', 'bin.js');
const BLOB = 8 * 2 ** 20;
const BLOBS = 16;
const PORT = { server: 18_761, upstream: 18_762 };

/** The bare proxy: a GET of this server is a GET of the upstream, its body piped into the reply. */
const PROXY_SOURCE = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const [upstream, port] = process.argv.slice(-2).map(Number);
http.createServer((req, res) => {
  const up = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, agent }, (reply) => {
    const length = reply.headers['content-length'];
    res.writeHead(reply.statusCode, length === undefined ? {} : { 'content-length': length });
    reply.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(port, '127.0.0.1');`;

async function main(argv) {
  const { values, fail } = parseCommandLine('get-memory.mjs', 'usage: get-memory.mjs [--target local|s3|proxy] [--plain-node]', argv, {
    target: { type: 'string', default: 'local' },
    'plain-node': { type: 'boolean', default: false },
  });
  if (!['local', 's3', 'proxy'].includes(values.target)) fail(`unknown target ${values.target}`);
  const runner = values['plain-node'] ? [process.execPath, '--max-semi-space-size=1'] : shebangCommand(OURS_BIN);
  const cleanups = [];
  const started = [];
  const start = (args, env = {}) => {
    const child = spawn(runner[0], [...runner.slice(1), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    started.push(child);
    return child;
  };
  let server;
  try {
    if (values.target === 'proxy') {
      start([join(HERE, 'floor-server.mjs'), '--kind', 'http', '--listen', `127.0.0.1:${PORT.upstream}`]);
      server = start(['-e', PROXY_SOURCE, String(PORT.upstream), String(PORT.server)]);
    } else if (values.target === 'local') {
      const dir = mkdtempSync(join(os.tmpdir(), 'get-memory-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      server = start([OURS_BIN, 'serve', '--path', dir, '--listen', `127.0.0.1:${PORT.server}`, '--no-auth']);
    } else {
      const { s3Env, tempBucket } = await import('../plugins/backend-s3/test/support/rgw.ts');
      const env = s3Env();
      const store = await tempBucket('get-memory', env);
      cleanups.push(() => store.destroy());
      server = start([OURS_BIN, 'serve', '--backend', 's3', '--listen', `127.0.0.1:${PORT.server}`, '--no-auth'], {
        S3_BUCKET: store.bucket, S3_PREFIX: 'bench', S3_ENDPOINT: env.endpoint, AWS_REGION: env.region,
        AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
      });
    }
    await measure(server, `${values.target}${values['plain-node'] ? ' (plain node)' : ''}`);
  } finally {
    for (const child of started) child.kill('SIGTERM');
    await Promise.all(started.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined)));
    for (const cleanup of cleanups) await cleanup();
  }
  return 0;
}

async function measure(server, label) {
  const client = createRepoClient(`http://127.0.0.1:${PORT.server}/m`, { maxSockets: 32 });
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
  let sampler;
  try {
    await waitForServer(client);
    await client.request('POST', '/?create=true');
    const data = randomBytes(BLOB);
    const names = [];
    for (let i = 0; i < BLOBS; i++) {
      data.writeUInt32BE(i, 0);
      const name = createHash('sha256').update(data).digest('hex');
      const { status } = await client.request('POST', `/data/${name}`, { body: [data] });
      if (status !== 200) throw new Error(`upload: HTTP ${status}`);
      names.push(name);
    }
    const rows = [['after the uploads', '', mib(readMemory(server.pid).rss)]];
    sampler = startRssSampler(server.pid, 10);
    for (const concurrency of [1, 4, 16, 1]) {
      sampler.takeWindow();
      const t0 = performance.now();
      for (let pass = 0; pass < 3; pass++) {
        let next = 0;
        const reader = async () => {
          while (next < names.length) {
            const { status, bytes } = await client.request('GET', `/data/${names[next++]}`);
            if (status !== 200 || bytes !== BLOB) throw new Error(`GET: HTTP ${status}, ${bytes} bytes`);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, reader));
      }
      const mbPerSec = (3 * BLOBS * BLOB) / 1e6 / ((performance.now() - t0) / 1000);
      rows.push([`GETs, ${concurrency} at once`, mbPerSec.toFixed(0), mib(sampler.takeWindow())]);
    }
    console.log(`${label}: peak RSS (MiB) while reading ${BLOBS} blobs of 8 MiB three times over`);
    for (const [what, rate, rss] of rows) console.log(`  ${what.padEnd(20)} ${rate.padStart(5)}${rate ? ' MB/s' : '     '}  ${rss.padStart(6)}`);
  } finally {
    sampler?.stop();
    client.close();
  }
}

async function waitForServer(client) {
  for (let i = 0; i < 100; i++) {
    try {
      return await client.request('GET', '/');
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the server did not answer within 10 s');
}

runMain('get-memory.mjs', main);
