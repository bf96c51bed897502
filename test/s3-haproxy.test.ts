// Three `pyrestserver serve --backend s3` instances over one bucket of a real Ceph RGW, behind
// a real HAProxy (round-robin, health-checked, on 127.0.0.1), with one htpasswd file: three
// restic clients back up their own repositories and one shared repository at the same time;
// then every repository passes check --read-data, the shared one holds all three snapshots,
// every instance served requests, and the bucket holds only restic's layout and no open upload.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, type CliServer } from './support/cli.js';
import { waitForPort } from './support/net.js';
import { restic, resticJson, type ResticOptions } from './support/restic.js';
import { allKeys, ok, openUploads, s3Env, startS3Server, tempBucket } from './support/s3.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree } from './support/tree.js';

const USERS = ['alice', 'bob', 'carol'];

function haproxyConfig(port: number, backends: number[]): string {
  return `global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 5m
  timeout server 5m
frontend restic
  bind 127.0.0.1:${port}
  default_backend pyrestserver
backend pyrestserver
  balance roundrobin
  option httpchk GET /metrics
  http-check expect status 200
${backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p} check inter 2s`).join('\n')}
`;
}

describe('three instances over one bucket behind HAProxy', () => {
  const env = s3Env();
  let store: Awaited<ReturnType<typeof tempBucket>>;
  let work: string;
  let servers: CliServer[] = [];
  let haproxy: ChildProcess | undefined;
  let port: number;
  const password = (user: string) => `${user} pass`;
  const repo = (user: string, name: string): ResticOptions => ({
    repo: `rest:http://${user}:${encodeURIComponent(password(user))}@127.0.0.1:${port}/${name}`,
    timeoutMs: 300_000,
  });

  before(async () => {
    store = await tempBucket('haproxy');
    work = await tempDir('pyrs-s3-haproxy-');
    const htpasswd = join(work, '.htpasswd');
    execFileSync('htpasswd', ['-b', '-c', '-B', '-C', '5', htpasswd, USERS[0]!, password(USERS[0]!)], { stdio: 'ignore' });
    for (const user of USERS.slice(1)) execFileSync('htpasswd', ['-b', '-B', '-C', '5', htpasswd, user, password(user)], { stdio: 'ignore' });
    servers = await Promise.all(
      USERS.map(() =>
        startS3Server(env, store.bucket, 'fleet', {
          noAuth: false,
          args: ['--htpasswd-file', htpasswd, '--prometheus', '--prometheus-no-auth', '--log', '-'],
        }),
      ),
    );
    port = await freePort();
    const config = join(work, 'haproxy.cfg');
    await writeFile(config, haproxyConfig(port, servers.map((s) => s.port)));
    let out = '';
    haproxy = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.on('error', (err) => (out += `haproxy could not start (is it installed?): ${err.message}`));
    haproxy.stdout!.on('data', (d) => (out += d));
    haproxy.stderr!.on('data', (d) => (out += d));
    await waitForPort('haproxy', port, () => (haproxy!.exitCode !== null ? `exited (${haproxy!.exitCode})` : undefined), () => out);
    for (const user of USERS) await makeTree(join(work, user), { seed: `fleet:${user}` });
  });

  after(async () => {
    if (haproxy && haproxy.exitCode === null) {
      haproxy.kill('SIGTERM');
      await new Promise((r) => haproxy!.once('exit', r));
    }
    await Promise.all(servers.map((s) => (s.child.exitCode === null ? s.stop() : undefined)));
    await store?.destroy();
    if (work) await removeDir(work);
  });

  it('concurrent backups of own and shared repositories, then check --read-data clean everywhere', async () => {
    await Promise.all(USERS.map(async (user) => ok(await restic(['init'], repo(user, user)), `init ${user}`)));
    ok(await restic(['init'], repo('alice', 'shared')), 'init shared');
    const backups = USERS.flatMap((user) => [
      restic(['backup', '.'], { ...repo(user, user), cwd: join(work, user) }).then((r) => ok(r, `backup ${user}`)),
      restic(['backup', '.'], { ...repo(user, 'shared'), cwd: join(work, user) }).then((r) => ok(r, `backup ${user} -> shared`)),
    ]);
    await Promise.all(backups);
    for (const name of [...USERS, 'shared']) ok(await restic(['check', '--read-data'], repo('alice', name)), `check ${name}`);
    const snapshots = await resticJson<{ paths: string[] }[]>(['snapshots'], repo('bob', 'shared'));
    assert.equal(snapshots.length, 3, 'the shared repository holds one snapshot per user');
    const target = join(work, 'restore-carol');
    ok(await restic(['restore', 'latest', '--target', target, '--path', join(work, 'carol')], repo('carol', 'shared')), 'restore carol from shared');
    assert.deepEqual(await hashTree(target), await hashTree(join(work, 'carol')));
  });

  it('every instance served requests, and the bucket holds only restic files, once each, no open upload', async () => {
    for (const [i, server] of servers.entries()) {
      const requests = server.output().split('\n').filter((line) => /"(GET|POST|HEAD|DELETE) \//.test(line)).length;
      assert.ok(requests > 10, `instance ${i + 1} served ${requests} requests`);
    }
    const keys = await allKeys(store.client, store.bucket);
    assert.equal(new Set(keys).size, keys.length);
    const layout = /^fleet\/(alice|bob|carol|shared)\/(|config|(keys|locks|snapshots|index)\/[0-9a-f]{64}|data\/([0-9a-f]{2})\/\4[0-9a-f]{62})$/;
    for (const key of keys) assert.match(key, layout);
    assert.ok(!keys.some((k) => /\/locks\//.test(k)), 'a lock was left behind');
    assert.deepEqual(await openUploads(store.client, store.bucket), []);
  });
});
