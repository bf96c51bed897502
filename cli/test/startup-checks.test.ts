/**
 * Start-up: a broken set-up fails at once with a clear message and exit 1, before any backend
 * is contacted; a good one logs its listening address once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, startCli, tempDir, waitForLog, writeFiles, writePlugin } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let projectDir: string;
const marker = () => path.join(root, 'slow-backend-started');

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-startup-'));
  await chmod(root, 0o755); // readable by the unprivileged user of the write test
  projectDir = path.join(root, 'project');
  await writeFiles(projectDir, { 'package.json': '{"name":"p"}' });
  // A backend that takes 20 s to start (a remote API retrying): it must never be reached.
  await writePlugin(path.join(projectDir, 'node_modules'), {
    name: 'pyrestserver-backend-slow',
    schema: { type: 'object', properties: {}, additionalProperties: false },
    create: `return import('node:fs').then((fs) => {
      fs.writeFileSync(${JSON.stringify(marker())}, 'x');
      return new Promise((resolve) => setTimeout(() => resolve({}), 20000));
    });`,
  });
});
after(() => cleanup());

test('--path that is a file: exit 1 with a clear message, nothing served', async () => {
  const file = path.join(root, 'a-file');
  await writeFile(file, 'x');
  const { code, stdout, stderr } = await runCli(['serve', '--path', file, '--no-auth', '--listen', '127.0.0.1:0'], { cwd: root });
  assert.equal(code, 1, stderr);
  assert.match(stderr, new RegExp(`--path ${file}: is not a folder`));
  assert.doesNotMatch(stdout, /listening/);
});

test('--path the server cannot write: exit 1 naming the folder (checked for real, also for root)', async () => {
  const dir = path.join(root, 'read-only');
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o555);
  const args = ['serve', '--path', dir, '--no-auth', '--listen', '127.0.0.1:0'];
  let result: { code: number | null; stderr: string };
  if (process.getuid?.() === 0) {
    // root writes anywhere: run the server as nobody, for whom the folder is read-only.
    result = await runAs(65534, args);
  } else {
    result = await runCli(args, { cwd: root });
  }
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, new RegExp(`--path ${dir}: the server cannot write there \\((EACCES|EROFS|EPERM)\\)`));
});

test('a missing htpasswd file fails at once, before the backend is started', async () => {
  const started = Date.now();
  const { code, stderr } = await runCli(
    ['serve', '--backend', 'slow', '--path', path.join(root, 'nowhere'), '--listen', '127.0.0.1:0'],
    { cwd: projectDir },
  );
  assert.equal(code, 1, stderr);
  assert.match(stderr, /PYRS_AUTH_SETUP.*htpasswd file .* does not exist/);
  assert.ok(Date.now() - started < 15_000, 'the backend was waited for');
  await assert.rejects(readFile(marker()), { code: 'ENOENT' });
});

test('TLS files that are missing, or a listen address in use, fail before the backend is started', async () => {
  const tls = await runCli(['serve', '--backend', 'slow', '--no-auth', '--tls', '--tls-cert', path.join(root, 'nope.crt'), '--tls-key', path.join(root, 'nope.key'), '--listen', '127.0.0.1:0'], { cwd: projectDir });
  assert.equal(tls.code, 1, tls.stderr);
  assert.match(tls.stderr, /PYRS_TLS_SETUP/);
  const busy = startCli(['serve', '--path', path.join(root, 'data'), '--no-auth', '--listen', '127.0.0.1:0'], { cwd: root });
  try {
    const { address } = await waitForLog(busy, 'listening');
    const taken = new URL(String(address)).host;
    const inUse = await runCli(['serve', '--backend', 'slow', '--no-auth', '--listen', taken], { cwd: projectDir });
    assert.equal(inUse.code, 1, inUse.stderr);
    assert.match(inUse.stderr, /PYRS_LISTEN.*already in use/);
  } finally {
    busy.kill('SIGKILL');
  }
  await assert.rejects(readFile(marker()), { code: 'ENOENT' });
});

test('the listening address is logged once', async () => {
  const child = startCli(['serve', '--path', path.join(root, 'data'), '--no-auth', '--listen', '127.0.0.1:0'], { cwd: root });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  try {
    await waitForLog(child, 'listening');
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    child.kill('SIGKILL');
  }
  const lines = out.split('\n').filter((l) => /listening/i.test(l));
  assert.equal(lines.length, 1, out);
});

/** Run the CLI (from its built dist: no loader needed) as another user. */
function runAs(uid: number, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
  const child = spawn(process.execPath, [bin, ...args], { uid, gid: uid, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}
