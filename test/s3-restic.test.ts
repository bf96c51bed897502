// The real restic client against `pyrestserver serve --backend s3` (the built CLI loading the
// S3 plugin package) over a real Ceph RGW: init, backup, check --read-data, byte-identical
// restore, a second backup, forget --prune; on a nested repository under a prefix and on the
// root repository of a bucket; `pyrestserver repos` and --max-size counting the bucket at start. Then the same repositories opened with restic's own s3 backend
// (no lock-in), and a snapshot restic wrote to the bucket directly served by us.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_BIN, REPO_ROOT, type CliServer } from './support/cli.js';
import { restic, resticJson, type ResticOptions } from './support/restic.js';
import { allKeys, bucketBytes, ok, openUploads, resticS3, s3Env, serverEnv, startS3Server, tempBucket } from './support/s3.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree, writeRandomFile } from './support/tree.js';

function workflow(label: string, prefix: string, repoPath: string, quota: boolean) {
  const env = s3Env();
  let store: Awaited<ReturnType<typeof tempBucket>>;
  let server: CliServer;
  let work: string;
  let source: string;
  let opts: ResticOptions;
  const keyPrefix = [prefix, repoPath].filter((p) => p !== '').join('/');

  before(async () => {
    store = await tempBucket(label);
    server = await startS3Server(env, store.bucket, prefix);
    work = await tempDir(`pyrs-s3-${label}-`);
    source = join(work, 'source');
    await makeTree(source, { seed: label });
    opts = { repo: `rest:${server.url}/${repoPath}`, timeoutMs: 180_000 };
  });
  after(async () => {
    if (server?.child.exitCode === null) await server.stop();
    await store?.destroy();
    if (work) await removeDir(work);
  });

  it('init, backup, check --read-data; restic layout in the bucket', async () => {
    ok(await restic(['init'], opts), 'init');
    ok(await restic(['backup', '.'], { ...opts, cwd: source }), 'backup');
    ok(await restic(['check', '--read-data'], opts), 'check --read-data');
    const keys = await allKeys(store.client, store.bucket);
    const base = keyPrefix ? `${keyPrefix}/` : '';
    assert.ok(keys.includes(`${base}config`), `no ${base}config in ${keys.slice(0, 5).join(', ')}`);
    const layout = /^(config|(keys|locks|snapshots|index)\/[0-9a-f]{64}|data\/([0-9a-f]{2})\/\3[0-9a-f]{62})$/;
    for (const key of keys) {
      if (key === base) continue; // the repository marker
      assert.ok(key.startsWith(base) && layout.test(key.slice(base.length)), `key outside restic's layout: ${key}`);
    }
    assert.ok(keys.some((k) => k.startsWith(`${base}data/`)), 'no data');
  });

  it('restore is byte-identical', async () => {
    const target = join(work, 'restore');
    ok(await restic(['restore', 'latest', '--target', target], opts), 'restore');
    assert.deepEqual(await hashTree(target), await hashTree(source));
  });

  it('a second backup, forget --prune, check', async () => {
    await writeRandomFile(join(source, 'docs/new.bin'), `${label}:new`, 700_000);
    ok(await restic(['backup', '.'], { ...opts, cwd: source }), 'second backup');
    const before = (await allKeys(store.client, store.bucket)).length;
    ok(await restic(['forget', '--keep-last', '1', '--prune'], opts), 'forget --prune');
    assert.equal((await resticJson<unknown[]>(['snapshots'], opts)).length, 1);
    const afterPrune = (await allKeys(store.client, store.bucket)).length;
    assert.ok(afterPrune < before, `prune removed nothing (${before} -> ${afterPrune} objects)`);
    ok(await restic(['check', '--read-data'], opts), 'check after prune');
  });

  it("restic's own s3 backend opens the same repository, and what it writes we serve", async () => {
    const direct = resticS3(env, store.bucket, keyPrefix);
    ok(await restic(['check', '--read-data'], direct), 'check via s3:');
    await writeRandomFile(join(source, 'docs/direct.bin'), `${label}:direct`, 300_000);
    ok(await restic(['backup', '.'], { ...direct, cwd: source }), 'backup via s3:');
    const snapshots = await resticJson<{ id: string }[]>(['snapshots'], opts);
    assert.equal(snapshots.length, 2, 'the snapshot restic wrote directly is listed through the server');
    ok(await restic(['check', '--read-data'], opts), 'check through the server');
    const target = join(work, 'restore-direct');
    ok(await restic(['restore', 'latest', '--target', target], opts), 'restore through the server');
    assert.deepEqual(await hashTree(target), await hashTree(source));
  });

  it('pyrestserver repos finds the repository in the bucket' + (quota ? ', and --max-size counts it at start: a restart with less room refuses the next backup with 507' : ''), async () => {
    const listing = spawnSync(process.execPath, [CLI_BIN, 'repos', '--backend', 's3', '--json'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...serverEnv(env, store.bucket, prefix) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, new RegExp(`"repo":\\s*"${repoPath}"`), listing.stdout);
    // restic 0.14 retries a refused upload for about 45 s before it gives up: once is enough.
    if (!quota) return;
    // Room for 100 KB more than the bucket holds now: a backup of 2 MB new data does not fit.
    const sizes = await bucketBytes(store.client, store.bucket, keyPrefix);
    const small = await startS3Server(env, store.bucket, prefix, { args: ['--max-size', String(sizes + 100_000)] });
    try {
      await writeRandomFile(join(source, 'docs/too-much.bin'), `${label}:quota`, 2_000_000);
      const result = await restic(['backup', '.'], { ...opts, repo: `rest:${small.url}/${repoPath}`, cwd: source });
      assert.notEqual(result.code, 0, 'the backup over the quota succeeded');
      assert.match(result.stderr, /507|Insufficient Storage/);
    } finally {
      await small.stop();
    }
    ok(await restic(['check'], opts), 'check after the refused backup');
  });

  it('no multipart upload is left open, and the server never printed the secret key', async () => {
    assert.deepEqual(await openUploads(store.client, store.bucket), []);
    await server.stop();
    assert.ok(!server.output().includes(env.secretAccessKey), 'secret key in the server output');
  });
}

describe('restic over pyrestserver serve --backend s3 (Ceph RGW): nested repository under a prefix', () => {
  workflow('nested', 'restic/backups', 'alice/laptop', true);
});

describe('restic over pyrestserver serve --backend s3 (Ceph RGW): root repository of a bucket', () => {
  workflow('root', '', '', false);
});
