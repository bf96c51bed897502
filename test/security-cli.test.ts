// rest-server's security flags through the real CLI binary (cli/dist/bin.js): the
// default <path>/.htpasswd, reload on a real SIGHUP, refusing to start without an
// htpasswd file or a TLS key, --private-repos, --append-only, --prometheus, --log.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_BIN, ensureBuilt, REPO_ROOT, startCli, type CliServer } from './support/cli.js';
import { randomBlob } from './support/data.js';
import { removeDir, tempDir } from './support/tmp.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const htpasswd = (args: string[]) => execFileSync('htpasswd', ['-b', ...args], { stdio: 'ignore' });

before(() => ensureBuilt());

/** Run `serve` expecting it to refuse to start; resolves with its exit code and output. */
function refusedStart(args: string[]) {
  const r = spawnSync(process.execPath, [CLI_BIN, 'serve', '--listen', '127.0.0.1:0', ...args], {
    cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('serve with the default <path>/.htpasswd', () => {
  let dir: string;
  let server: CliServer;
  before(async () => {
    dir = await tempDir('pyrs-sec-cli-');
    htpasswd(['-c', '-B', '-C', '5', join(dir, '.htpasswd'), 'alice', 'first']);
    htpasswd(['-s', join(dir, '.htpasswd'), 'metrics', 'm-pw']);
    server = await startCli({
      path: dir,
      noAuth: false,
      args: ['--private-repos', '--append-only', '--prometheus', '--log', join(dir, 'access.log')],
    });
  });
  after(async () => {
    await server.stop();
    await removeDir(dir);
  });

  it('authenticates, keeps users in their own repositories, refuses deletes', async () => {
    assert.equal((await fetch(`${server.url}/alice/?create=true`, { method: 'POST' })).status, 401);
    assert.equal((await fetch(`${server.url}/alice/?create=true`, { method: 'POST', headers: basic('alice', 'first') })).status, 200);
    assert.equal((await fetch(`${server.url}/bob/?create=true`, { method: 'POST', headers: basic('alice', 'first') })).status, 401);
    const blob = randomBlob(1000);
    const put = await fetch(`${server.url}/alice/data/${blob.name}`, {
      method: 'POST', body: new Uint8Array(blob.data), headers: { ...basic('alice', 'first'), 'content-type': 'application/octet-stream' },
    });
    assert.equal(put.status, 200);
    assert.equal((await fetch(`${server.url}/alice/data/${blob.name}`, { method: 'DELETE', headers: basic('alice', 'first') })).status, 403);
  });

  it('/metrics is for the user "metrics" only', async () => {
    assert.equal((await fetch(`${server.url}/metrics`, { headers: basic('alice', 'first') })).status, 401);
    const res = await fetch(`${server.url}/metrics`, { headers: basic('metrics', 'm-pw') });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /rest_server_blob_write_total\{user="alice",repo="alice",type="data"\} 1/);
  });

  it('a real SIGHUP reloads the htpasswd file and the server keeps running', async () => {
    htpasswd(['-B', '-C', '5', join(dir, '.htpasswd'), 'alice', 'second']);
    server.child.kill('SIGHUP');
    let status = 0;
    for (let i = 0; i < 100 && status !== 404; i++) {
      status = (await fetch(`${server.url}/alice/config`, { headers: basic('alice', 'second') })).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 404, 'the new password works');
    assert.equal((await fetch(`${server.url}/alice/config`, { headers: basic('alice', 'first') })).status, 401);
    assert.equal(server.child.exitCode, null);
  });

  it('--log writes combined-format lines with the user, never the password', async () => {
    const log = await readFile(join(dir, 'access.log'), 'utf8');
    assert.match(log, /^127\.0\.0\.1 - alice \[[^\]]+\] "POST \/alice\/\?create=true HTTP\/1\.1" 200 0 /m);
    assert.match(log, /^127\.0\.0\.1 - - \[[^\]]+\] "POST \/alice\/\?create=true HTTP\/1\.1" 401 /m);
    for (const secret of ['first', 'second', 'm-pw', Buffer.from('alice:first').toString('base64')]) {
      assert.ok(!log.includes(secret), secret);
      assert.ok(!server.output().includes(secret), secret);
    }
  });
});

describe('serve refuses to start', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('pyrs-sec-cli-');
  });
  after(() => removeDir(dir));

  it('without an htpasswd file and without --no-auth, naming the file and the fix', () => {
    const { code, output } = refusedStart(['--path', dir]);
    assert.notEqual(code, 0);
    assert.ok(output.includes(join(dir, '.htpasswd')), output);
    assert.match(output, /PYRS_AUTH_SETUP/);
    assert.match(output, /htpasswd -B -C 12 -c/);
    assert.match(output, /--no-auth/);
  });

  it('with --tls but no certificate, naming the default file', () => {
    const { code, output } = refusedStart(['--path', dir, '--no-auth', '--tls']);
    assert.notEqual(code, 0);
    assert.match(output, /PYRS_TLS_SETUP/);
    assert.ok(output.includes(join(dir, 'public_key')) || output.includes(join(dir, 'private_key')), output);
  });
});
