#!/usr/bin/env node
// Where an upload phase's CPU goes, thread by thread: uploads COUNT blobs of SIZE MiB (COUNT/8
// untimed first), CONCURRENCY at once, to a running restic REST server, and prints MB/s, the
// latency per upload and, with --pid, the CPU time (user/system, from /proc/PID/task/TID/stat)
// each of the server's threads spent meanwhile, and its minor page faults. Run it against
// ours and rest-server in turn (bench/load.mjs's numbers are per process only):
//
//   node bench/upload-threads.mjs --url http://127.0.0.1:8000/up1 --pid $(pgrep -n -f 'bin.js serve')
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    pid: { type: 'string' },
    count: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '4' },
    'size-mib': { type: 'string', default: '8' },
    help: { type: 'boolean' },
  },
});
if (values.help || !values.url) {
  console.log('usage: node bench/upload-threads.mjs --url URL [--pid N] [--count 64] [--concurrency 4] [--size-mib 8]');
  process.exit(values.help ? 0 : 2);
}
const url = values.url.replace(/\/$/, '');
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const size = Number(values['size-mib']) * 2 ** 20;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

const request = (method, path, body) =>
  new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });

/** user and system ms, and minor faults, per thread of `pid`. */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
    out.set(tid, { user: Number(f[11]) * 10, sys: Number(f[12]) * 10, faults: Number(f[7]) });
  }
  return out;
}

async function upload(n, label) {
  const base = randomBytes(size);
  const bodies = Array.from({ length: n }, (_, i) => {
    const body = Buffer.from(base);
    body.writeUInt32BE(i, 0);
    body.writeDoubleBE(Math.random(), 4);
    return body;
  });
  const names = bodies.map((b) => createHash('sha256').update(b).digest('hex'));
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        const status = await request('POST', `/data/${names[i]}`, bodies[i]);
        if (status !== 200) throw new Error(`${label}: POST answered ${status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { mbps: (n * size) / 1e6 / seconds, median: latencies[latencies.length >> 1], p90: latencies[Math.floor(latencies.length * 0.9)] };
}

const created = await request('POST', '/?create=true');
if (created !== 200) throw new Error(`creating the repository answered ${created}`);
await upload(Math.max(1, Math.floor(count / 8)), 'warm-up');
const before = values.pid ? threads(values.pid) : undefined;
const r = await upload(count, 'measured');
console.log(`${count} x ${size / 2 ** 20} MiB, ${concurrency} at once: ${r.mbps.toFixed(0)} MB/s, latency median ${r.median.toFixed(1)} ms, p90 ${r.p90.toFixed(1)} ms`);
if (before) {
  const after = threads(values.pid);
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { user: 0, sys: 0, faults: 0 };
    const user = a.user - b.user;
    const sys = a.sys - b.sys;
    if (user + sys < 20) continue;
    console.log(`  thread ${tid}${tid === String(values.pid) ? ' (main)' : ''}: user ${user} ms, system ${sys} ms, minor faults ${a.faults - b.faults}`);
  }
}
agent.destroy();
