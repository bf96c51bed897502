// A Ceph RGW of its own whose gateway (radosgw) is killed with SIGKILL in the middle of a
// restic backup through `serve --backend s3`, and started again a few seconds later: the
// server answers 503 meanwhile (restic retries), the backup completes, check --read-data
// is clean and the restore byte-identical. Also: bad credentials and a missing bucket stop
// `serve` before it listens, with a clear message and without the secret.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRgw } from '../plugins/backend-s3/test/support/rgw.js';
import { CLI_BIN, ensureBuilt, REPO_ROOT } from './support/cli.js';
import { restic } from './support/restic.js';
import { allKeys, ok, s3Env, serverEnv, startS3Server, tempBucket } from './support/s3.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree } from './support/tree.js';

const MiB = 1024 * 1024;

describe('the gateway killed and restarted in the middle of a backup', () => {
  let rgw: Awaited<ReturnType<typeof startRgw>>;
  let work: string;
  before(async () => {
    rgw = await startRgw('restart');
    work = await tempDir('pyrs-s3-restart-');
  });
  after(async () => {
    await rgw?.stop();
    if (work) await removeDir(work);
  });

  it('restic gets 503s while it is down, retries, and the backup completes; check --read-data clean', async () => {
    const { client, bucket } = await tempBucket('restart', rgw.env);
    const server = await startS3Server(rgw.env, bucket, 'p', { args: ['--max-retries', '1'] });
    try {
      const source = join(work, 'source');
      const files = Array.from({ length: 12 }, (_, i) => ({ path: `f/${i}.bin`, size: 6 * MiB + i }));
      await makeTree(source, { seed: 'restart', files, emptyDirs: [] });
      const opts = { repo: `rest:${server.url}/r`, timeoutMs: 300_000 };
      ok(await restic(['init'], opts), 'init');
      const backup = restic(['backup', '.'], { ...opts, cwd: source });
      // Kill the gateway once the first pack is in the bucket, keep it down for 4 s.
      for (let i = 0; i < 600 && !(await allKeys(client, bucket, 'p/r/data/')).length; i++) await new Promise((r) => setTimeout(r, 50));
      await rgw.killGateway();
      await new Promise((r) => setTimeout(r, 4000));
      await rgw.startGateway();
      const result = await backup;
      ok(result, 'backup across the gateway restart');
      assert.match(result.stderr, /retrying|503/i, `restic met no error: the gateway went down too late\n${result.stderr}`);
      ok(await restic(['check', '--read-data'], opts), 'check --read-data');
      const target = join(work, 'restore');
      ok(await restic(['restore', 'latest', '--target', target], opts), 'restore');
      assert.deepEqual(await hashTree(target), await hashTree(source));
      assert.ok(!server.output().includes(rgw.env.secretAccessKey), 'secret key in the server output');
    } finally {
      await server.stop();
      client.destroy();
    }
  });
});

/** `pyrestserver serve --backend s3` that must exit before listening; its exit code and output. */
function serveFails(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  ensureBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, 'serve', '--backend', 's3', '--no-auth', '--listen', '127.0.0.1:0'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('serve --backend s3 refuses to start', () => {
  it('with a wrong secret key: exit 1, PYRS_BACKEND_START, the secret nowhere in the output', async () => {
    const env = s3Env();
    const store = await tempBucket('badkey');
    try {
      const secret = 'WrongSecretThatMustNotBePrinted00000000';
      const run = await serveFails({ ...serverEnv(env, store.bucket), AWS_SECRET_ACCESS_KEY: secret });
      assert.equal(run.code, 1, run.output);
      assert.match(run.output, /PYRS_BACKEND_START/);
      assert.match(run.output, /S3 refused the credentials .*SignatureDoesNotMatch/);
      assert.ok(!run.output.includes(secret), 'secret in the output');
    } finally {
      await store.destroy();
    }
  });

  it('with a missing bucket: exit 1, naming the bucket', async () => {
    const env = s3Env();
    const run = await serveFails(serverEnv(env, 'pyrs-missing-bucket'));
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /the bucket pyrs-missing-bucket does not exist/);
    assert.ok(!run.output.includes(env.secretAccessKey), 'secret in the output');
  });
});
