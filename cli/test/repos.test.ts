import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Progress } from '../src/repos/progress.js';
import { runCli, startCli, tempDir, waitForLog, writeFiles, writePlugin } from './helpers.js';

const exec = promisify(execFile);
let root: string;
let cleanup: () => Promise<void>;
let data: string;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-repos-'));
  data = path.join(root, 'data');
  const source = path.join(root, 'source');
  await writeFiles(source, { 'a.txt': 'hello restic\n'.repeat(1000), 'b.bin': 'x'.repeat(200_000) });
  await writeFiles(root, { 'package.json': '{}' });
  const child = startCli(['serve', '--path', data, '--listen', '127.0.0.1:0', '--no-auth'], { cwd: root });
  try {
    const port = new URL(String((await waitForLog(child, 'listening')).address)).port;
    for (const repo of ['alice/laptop', 'bob']) {
      const env = { ...process.env, RESTIC_PASSWORD: 'pw', RESTIC_REPOSITORY: `rest:http://127.0.0.1:${port}/${repo}` };
      await exec('restic', ['init'], { env });
      await exec('restic', ['backup', source], { env });
    }
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
});
after(() => cleanup());

interface Report {
  repo: string;
  bytes: number;
  files: number;
  types: Record<string, { files: number; bytes: number }>;
  newestSnapshot: string | null;
  quotas: { scope: string; name: string; limit: number; used: number }[];
}

describe('pyrestserver repos', () => {
  test('--json: sizes and file counts by type, the newest snapshot, quotas, as stored on disk', async () => {
    const { code, stdout, stderr } = await runCli(
      ['repos', '--path', data, '--json', '--max-size', '1GiB'],
      { cwd: root },
    );
    assert.equal(code, 0, stderr);
    const reports = JSON.parse(stdout) as Report[];
    assert.deepEqual(reports.map((r) => r.repo), ['alice/laptop', 'bob']);
    for (const r of reports) {
      const dir = path.join(data, r.repo);
      const snapshot = (await readdir(path.join(dir, 'snapshots')))[0]!;
      assert.equal(r.types.snapshots!.files, 1);
      assert.equal(r.types.keys!.files, 1);
      assert.equal(r.types.config!.bytes, (await stat(path.join(dir, 'config'))).size);
      assert.equal(r.newestSnapshot, new Date((await stat(path.join(dir, 'snapshots', snapshot))).mtimeMs).toISOString());
      let dataBytes = 0;
      let dataFiles = 0;
      for (const shard of await readdir(path.join(dir, 'data'))) {
        for (const f of await readdir(path.join(dir, 'data', shard))) {
          dataFiles++;
          dataBytes += (await stat(path.join(dir, 'data', shard, f))).size;
        }
      }
      assert.deepEqual(r.types.data, { files: dataFiles, bytes: dataBytes });
      assert.equal(r.bytes, Object.values(r.types).reduce((n, t) => n + t.bytes, 0));
      assert.deepEqual(r.quotas, [{ scope: 'server', name: '', limit: 2 ** 30, used: reports[0]!.bytes + reports[1]!.bytes }]);
    }
  });

  test('a table, with the quotas of the config file', async () => {
    await writeFiles(root, { 'pyrestserver.config.toml': '[users.alice]\nmaxSize = "1MiB"\n' });
    try {
      const { code, stdout, stderr } = await runCli(['repos', '--path', data], { cwd: root });
      assert.equal(code, 0, stderr);
      const lines = stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^REPOSITORY\s+SIZE\s+DATA\s+KEYS\s+LOCKS\s+SNAPSHOTS\s+INDEX\s+NEWEST SNAPSHOT\s+QUOTA$/);
      assert.match(lines[1]!, /^alice\/laptop\s+\d+(\.\d+)? KiB\s+\d+\s+1\s+0\s+1\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\d+% of 1 MiB \(user alice\)$/);
      assert.match(lines[2]!, /^bob\s.*UTC\s+-$/);
      assert.match(lines.at(-1)!, /^2 repositories, \d/);
      assert.equal(stderr, '', 'a quick walk prints no progress');
    } finally {
      await writeFiles(root, { 'pyrestserver.config.toml': '' });
    }
  });

  test('bad flags are usage errors; a backend that cannot list its repositories says so', async () => {
    const bad = await runCli(['repos', '--path', data, '--bogus'], { cwd: root });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--bogus/);
    await writePlugin(path.join(root, 'node_modules'), {
      name: 'pyrestserver-backend-flat',
      schema: { type: 'object', properties: {} },
      create: 'return { async close() {} };',
    });
    const flat = await runCli(['repos', '--backend', 'flat'], { cwd: root });
    assert.equal(flat.code, 1);
    assert.match(flat.stderr, /the flat backend cannot list its repositories/);
  });
});

describe('progress', () => {
  test('silent at first, then redrawn in place on a terminal and cleared at the end', async () => {
    const written: string[] = [];
    const progress = new Progress({ isTTY: true, write: (s: string) => written.push(s) }, { quietMs: 20, everyMs: 10 });
    progress.found = 3;
    progress.done = 1;
    progress.files = 42;
    assert.deepEqual(written, []);
    await new Promise((r) => setTimeout(r, 60));
    progress.stop();
    assert.ok(written.length >= 2);
    assert.equal(written[0], '\r\x1b[Kcounting: 1 of 3 repositories, 42 files');
    assert.equal(written.at(-1), '\r\x1b[K');
  });

  test('plain lines when stderr is not a terminal; nothing at all for a quick walk', async () => {
    const lines: string[] = [];
    const slow = new Progress({ write: (s: string) => lines.push(s) }, { quietMs: 10, everyMs: 1000 });
    await new Promise((r) => setTimeout(r, 30));
    slow.stop();
    assert.deepEqual(lines, ['counting: 0 of 0 repositories, 0 files\n']);
    const quick: string[] = [];
    new Progress({ write: (s: string) => quick.push(s) }).stop();
    assert.deepEqual(quick, []);
  });
});
