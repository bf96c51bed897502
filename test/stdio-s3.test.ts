// The S3 backend through `serve --stdio` (restic's rclone backend) over a real Ceph RGW: a new
// server process per restic command, bucket/prefix/endpoint as flags in rclone.args, the
// credentials in the environment (never on a command line). The remote names the repository
// below the prefix. init, backup, check --read-data, byte-identical restore, forget --prune;
// then a saved backend (--backend-config) and restic's default rclone.args with
// PYRESTSERVER_BACKEND_CONFIG; the secret key never reaches restic's output.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { obscure } from '@pyrestserver/core';
import { ensureBuilt } from './support/cli.js';
import { allKeys, ok, openUploads, s3Env, tempBucket, type S3Env } from './support/s3.js';
import { resticStdio, type StdioRestic } from './support/stdio.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree, writeRandomFile } from './support/tree.js';

const PREFIX = 'stdio-s3';
const REMOTE = 'alice/laptop';

describe('restic -o rclone.program=pyrestserver with --backend s3 (Ceph RGW)', () => {
  let env: S3Env;
  let store: Awaited<ReturnType<typeof tempBucket>>;
  let work: string;
  let source: string;
  let s: StdioRestic;
  const outputs: string[] = [];
  const keys = () => allKeys(store.client, store.bucket);
  const run = async (args: string[], what: string, via: StdioRestic = s) => {
    const result = await resticStdio(args, via, { cwd: source });
    outputs.push(result.stdout, result.stderr);
    return ok(result, what);
  };

  before(async () => {
    ensureBuilt();
    env = s3Env();
    store = await tempBucket('stdio-s3');
    work = await tempDir('pyrs-stdio-s3-');
    source = join(work, 'source');
    await makeTree(source, { seed: 'stdio-s3' });
    s = {
      args: `serve --stdio --backend s3 --bucket ${store.bucket} --prefix ${PREFIX} --endpoint ${env.endpoint} --region ${env.region}`,
      remote: REMOTE,
      env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
      timeoutMs: 180_000,
    };
  });
  after(async () => {
    await store?.destroy();
    if (work) await removeDir(work);
  });

  it('init puts the repository at prefix/remote in the bucket', async () => {
    await run(['init'], 'init');
    assert.ok((await keys()).includes(`${PREFIX}/${REMOTE}/config`));
  });

  it('backup, check --read-data, byte-identical restore', async () => {
    await run(['backup', '.'], 'backup');
    assert.ok((await keys()).some((k) => k.startsWith(`${PREFIX}/${REMOTE}/data/`)), 'no data in the bucket');
    assert.match((await run(['check', '--read-data'], 'check')).stdout, /no errors were found/);
    const target = join(work, 'restore');
    await run(['restore', 'latest', '--target', target], 'restore');
    assert.deepEqual(await hashTree(target), await hashTree(source));
  });

  it('a second backup, forget --prune removes objects, check is clean', async () => {
    await writeRandomFile(join(source, 'docs/new.bin'), 'stdio-s3:new', 700_000);
    await run(['backup', '.'], 'second backup');
    const before = (await keys()).length;
    await run(['forget', '--keep-last', '1', '--prune'], 'forget --prune');
    const afterPrune = (await keys()).length;
    assert.ok(afterPrune < before, `prune removed nothing (${before} -> ${afterPrune} objects)`);
    assert.match((await run(['check', '--read-data'], 'check after prune')).stdout, /no errors were found/);
  });

  it("--backend-config NAME (backends.toml), and the same through PYRESTSERVER_BACKEND_CONFIG with restic's default rclone.args", async () => {
    const configDir = join(work, 'config');
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, 'backends.toml'),
      `[mys3]\ntype = "s3"\nbucket = "${store.bucket}"\nprefix = "${PREFIX}"\nendpoint = "${env.endpoint}"\nregion = "${env.region}"\n` +
        `access_key_id = "${env.accessKeyId}"\nsecret_access_key = "${obscure(env.secretAccessKey)}"\n`,
    );
    // No AWS_* credentials passed: they come from the saved entry.
    const bare = { PYRESTSERVER_CONFIG_DIR: configDir };
    const saved: StdioRestic = { args: 'serve --stdio --backend-config mys3', remote: REMOTE, env: bare, timeoutMs: 180_000 };
    assert.equal((JSON.parse((await run(['--json', 'snapshots'], 'snapshots via --backend-config', saved)).stdout) as unknown[]).length, 1);
    await run(['backup', '--force', '.'], 'backup via --backend-config', saved);
    const shaped: StdioRestic = { remote: REMOTE, env: { ...bare, PYRESTSERVER_BACKEND_CONFIG: 'mys3' }, timeoutMs: 180_000 };
    assert.equal((JSON.parse((await run(['--json', 'snapshots'], "snapshots with restic's default rclone.args", shaped)).stdout) as unknown[]).length, 2);
    const target = join(work, 'restore-default-args');
    await run(['restore', 'latest', '--target', target], "restore with restic's default rclone.args", shaped);
    assert.deepEqual(await hashTree(target), await hashTree(source));
  });

  it('no multipart upload is left open, and the secret key never appears in what restic printed', async () => {
    assert.deepEqual(await openUploads(store.client, store.bucket), []);
    for (const text of outputs) assert.ok(!text.includes(env.secretAccessKey), 'secret key in restic output');
  });
});
