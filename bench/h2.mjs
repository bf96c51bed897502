#!/usr/bin/env node
// HTTP/2 against HTTP/1.1 on the same TLS listener setup, in one run, rounds alternating:
// two pyrestserver instances (`serve --tls`, one with `--http2`), the same build and data.
// Per round and protocol: restic backup (cold) and restore of a generated data set (restic
// negotiates h2 when offered), and raw upload/download of 8 MiB blobs by a Node client with
// 5 requests in flight (HTTP/1.1: 5 keep-alive connections; h2: 5 streams on one connection).
// Server CPU seconds per phase come from /proc.
//
//   pnpm run build && node bench/h2.mjs [--rounds 3] [--size-mib 64] [--blobs 32] [--json]
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { ensureDataset, treeDigest } from './lib/dataset.mjs';
import { readCpuSeconds, shebangCommand } from './lib/proc.mjs';
import { fixed, formatTable, mib } from './lib/table.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, '..', 'cli', 'dist', 'bin.js');
const PASSWORD = 'pyrestserver-bench';
const BLOB = 8 * 1024 * 1024;
const IN_FLIGHT = 5;

const USAGE = `usage: node bench/h2.mjs [--rounds N] [--size-mib N] [--blobs N] [--data DIR] [--json]`;

async function main(argv) {
  const { values, fail, integer } = parseCommandLine('h2.mjs', USAGE, argv, {
    rounds: { type: 'string' }, 'size-mib': { type: 'string' }, blobs: { type: 'string' },
    data: { type: 'string' }, json: { type: 'boolean', default: false },
  });
  const rounds = integer('rounds', 1) ?? 3;
  const blobs = integer('blobs', 1) ?? 32;
  const sizeMiB = integer('size-mib', 1) ?? 64;
  if (!readFileSyncOk(BIN)) fail(`${BIN} is missing: run pnpm run build first`);
  const work = await mkdtemp(join(tmpdir(), 'pyrs-bench-h2-'));
  const dataset = await ensureDataset(values.data ?? join(HERE, '..', '.bench', 'dataset'), { sizeMiB, seed: 1 });
  const { cert, key } = selfSigned(work);
  const servers = {};
  try {
    for (const [name, extra] of [['HTTP/1.1', []], ['h2', ['--http2']]]) {
      servers[name] = await startServer(join(work, name.replace('/', '')), ['--tls', '--tls-cert', cert, '--tls-key', key, ...extra]);
    }
    const rows = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate which protocol goes first, so a drift in machine load hits both alike.
      const order = round % 2 ? ['HTTP/1.1', 'h2'] : ['h2', 'HTTP/1.1'];
      for (const name of order) {
        const server = servers[name];
        const result = { round, protocol: name };
        const repo = `rest:${server.url}/round${round}`;
        const env = { ...process.env, RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: repo };
        const restic = (args) => run('restic', ['--no-cache', '--cacert', cert, ...args], env);
        await restic(['init']);
        Object.assign(result, await measure(server.pid, 'backup', () => restic(['backup', '--host', 'bench', dataset.tree])));
        const target = join(work, `restore-${name.replace('/', '')}-${round}`);
        Object.assign(result, await measure(server.pid, 'restore', () => restic(['restore', 'latest', '--target', target])));
        if ((await treeDigest(join(target, dataset.tree))) !== dataset.digest) throw new Error(`${name}: restored tree differs`);
        await rm(target, { recursive: true, force: true });
        const client = name === 'h2' ? h2Client(server.url, cert) : h1Client(server.url, cert);
        const names = await client.prepare(`raw${round}`, blobs);
        Object.assign(result, await measure(server.pid, 'upload', () => client.upload(names), blobs * BLOB));
        Object.assign(result, await measure(server.pid, 'download', () => client.download(names), blobs * BLOB));
        client.close();
        rows.push(result);
      }
    }
    if (values.json) {
      console.log(JSON.stringify({ rounds, sizeMiB, blobs, rows }, null, 2));
    } else {
      console.log(`restic ${sizeMiB} MiB data set; raw: ${blobs} x 8 MiB, ${IN_FLIGHT} in flight; TLS on loopback; ${rounds} rounds alternating`);
      console.log(formatTable(
        ['round', 'protocol', 'backup s', 'restore s', 'upload MiB/s', 'download MiB/s', 'server CPU s (backup/restore/up/down)'],
        rows.map((r) => [r.round, r.protocol, fixed(r.backupSeconds, 2), fixed(r.restoreSeconds, 2), fixed(r.uploadMiBs), fixed(r.downloadMiBs),
          [r.backupCpu, r.restoreCpu, r.uploadCpu, r.downloadCpu].map((c) => fixed(c, 2)).join(' / ')]),
      ));
    }
    return 0;
  } finally {
    for (const server of Object.values(servers)) server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function measure(pid, name, fn, bytes) {
  const cpu0 = readCpuSeconds(pid);
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  return {
    [`${name}Seconds`]: seconds,
    [`${name}Cpu`]: readCpuSeconds(pid) - cpu0,
    ...(bytes ? { [`${name}MiBs`]: bytes / seconds / 1024 / 1024 } : {}),
  };
}

/** Blobs with their SHA-256 names, made once per client (upload verification checks them). */
function makeBlobs(count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const body = randomBytes(BLOB);
    out.push({ name: createHash('sha256').update(body).digest('hex'), body });
  }
  return out;
}

/** `count` jobs, IN_FLIGHT at a time. */
async function pool(items, job) {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < items.length) await job(items[next++]);
  }));
}

function h1Client(base, cert) {
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT, ca: readFileSync(cert) });
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const req = httpsRequest(`${base}${path}`, { method, agent }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => (res.statusCode < 300 ? resolve(n) : reject(new Error(`${method} ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  return client(call, () => agent.destroy());
}

function h2Client(base, cert) {
  // The client queues whole 8 MiB bodies; Node's default session memory cap (10 MB) would refuse them.
  const session = connect(base, { ca: readFileSync(cert), maxSessionMemory: 256 });
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, ...(body ? { 'content-length': String(body.length) } : {}) });
    let status = 0;
    let n = 0;
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (c) => (n += c.length));
    req.on('end', () => (status < 300 ? resolve(n) : reject(new Error(`${method} ${path}: ${status}`))));
    req.on('error', reject);
    req.end(body);
  });
  return client(call, () => session.close());
}

function client(call, close) {
  let blobs;
  let repo;
  return {
    async prepare(name, count) {
      repo = `/${name}`;
      await call('POST', `${repo}/?create=true`);
      blobs = makeBlobs(count);
      return blobs;
    },
    upload: (items) => pool(items, (b) => call('POST', `${repo}/data/${b.name}`, b.body)),
    download: (items) => pool(items, (b) => call('GET', `${repo}/data/${b.name}`)),
    close,
  };
}

function selfSigned(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

async function startServer(dir, args) {
  const [command, ...flags] = shebangCommand(BIN);
  const child = spawn(command, [...flags, BIN, 'serve', '--path', dir, '--no-auth', '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      const m = /"address":"(https:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${out}`)));
  });
  return { url, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s) => (err += s));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

function readFileSyncOk(file) {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

runMain('h2.mjs', main);
