import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createServer, listen } from '../src/index.js';
import { parseHostPort, systemdListenFds } from '../src/listen.js';
import { local, selfSignedCert, silentLogger, tempDir } from './security-support.js';

async function app(t: TestContext, extra = {}) {
  const provider = await local.create({ path: await tempDir(t) }, { logger: silentLogger, groupAccessible: false });
  const server = await createServer({ provider, auth: { kind: 'none' }, logger: pino({ level: 'silent' }), ...extra });
  t.after(() => server.close());
  return server;
}

/** POST {repo}/?create=true over a unix socket; resolves with the status. */
function createOverSocket(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path: '/repo/?create=true', method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.once('error', reject);
    req.end();
  });
}

const exists = (p: string) => stat(p).then(() => true, () => false);

test('parseHostPort: rest-server listen forms', () => {
  assert.deepEqual(parseHostPort(':8000'), { host: '::', port: 8000 });
  assert.deepEqual(parseHostPort('127.0.0.1:9'), { host: '127.0.0.1', port: 9 });
  assert.deepEqual(parseHostPort('[::1]:8000'), { host: '::1', port: 8000 });
  assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 });
  for (const bad of ['8000', 'host', ':99999', '::1:8000', 'a:b']) {
    assert.throws(() => parseHostPort(bad), { code: 'PYRS_LISTEN' }, bad);
  }
});

test('host:port listens and reports the URL; a busy port is ConfigError LISTEN', async (t) => {
  const a = await app(t);
  const address = await listen(a, '127.0.0.1:0');
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
  const port = (a.server.address() as { port: number }).port;
  const b = await app(t);
  await assert.rejects(listen(b, `127.0.0.1:${port}`), { code: 'PYRS_LISTEN', message: /already in use/ });
});

test('[::1]:port listens on IPv6 loopback', async (t) => {
  const a = await app(t);
  const address = await listen(a, '[::1]:0');
  assert.match(address, /^http:\/\/\[::1\]:\d+$/);
});

test('unix:/path serves over the socket, and the socket file is removed on close', async (t) => {
  const path = join(await tempDir(t), 'rest.sock');
  const a = await app(t);
  assert.equal(await listen(a, `unix:${path}`), `unix:${path}`);
  assert.equal(await createOverSocket(path), 200);
  await a.close();
  assert.equal(await exists(path), false);
});

test('unix: a stale socket file (its server died) is replaced', async (t) => {
  const path = join(await tempDir(t), 'stale.sock');
  // A server that dies without cleaning up leaves its socket file behind.
  const dead = spawnSync(process.execPath, [
    '-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(dead.signal, 'SIGKILL');
  assert.ok((await stat(path)).isSocket());
  const a = await app(t);
  await listen(a, `unix:${path}`);
  assert.equal(await createOverSocket(path), 200);
});

test('unix: a live socket or a regular file is never removed', async (t) => {
  const dir = await tempDir(t);
  const live = join(dir, 'live.sock');
  const other = netServer().listen(live);
  await once(other, 'listening');
  t.after(() => other.close());
  await assert.rejects(listen(await app(t), `unix:${live}`), { code: 'PYRS_LISTEN', message: /another server/ });
  assert.ok((await stat(live)).isSocket());

  const file = join(dir, 'precious');
  await writeFile(file, 'keep me');
  await assert.rejects(listen(await app(t), `unix:${file}`), { code: 'PYRS_LISTEN', message: /not a socket/ });
  assert.equal(await readFile(file, 'utf8'), 'keep me');
});

test('systemdListenFds: only for this pid; clears the variables', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '123', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x' };
  assert.equal(systemdListenFds({ ...env }, 456), 0);
  assert.equal(systemdListenFds(env, 123), 1);
  assert.deepEqual(env, {});
  assert.equal(systemdListenFds({}, 1), 0);
});

test('systemd socket activation: serves on the passed socket (systemd-socket-activate)', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'activated.sock');
  const child = spawn(
    'systemd-socket-activate',
    ['-l', socket, '-E', 'PATH', process.execPath, '--conditions=pyrestserver-source', '--import', 'tsx',
      fileURLToPath(new URL('./listen-systemd-child.ts', import.meta.url)), dir, 'unix:/nonexistent/ignored.sock'],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  // The socket exists before the program starts; the first connection starts it.
  for (let i = 0; i < 100 && !(await exists(socket)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await createOverSocket(socket), 200);
  assert.ok(await exists(join(dir, 'repo', 'data', 'ff')), 'the repository was created by the activated server');
  const report = JSON.parse(stdout.trim().split('\n')[0]!) as { address: string; env: string | null };
  assert.match(report.address, /systemd socket activation/);
  assert.equal(report.env, null, 'LISTEN_FDS is removed from the environment');
});

test('TLS: HTTPS with the configured certificate', async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const a = await app(t, { tls: { cert, key } });
  const address = await listen(a, '127.0.0.1:0');
  assert.match(address, /^https:\/\//);
  const ca = await readFile(cert);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${address}/repo/?create=true`, { method: 'POST', ca }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.once('error', reject);
    req.end();
  });
  assert.equal(status, 200);
});

test('TLS: --tls-min-ver 1.3 refuses a TLS 1.2 client; 1.2 accepts it', async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const ca = await readFile(cert);
  const handshake = (address: string) =>
    new Promise<string>((resolve) => {
      const req = httpsRequest(`${address}/x/config`, { ca, maxVersion: 'TLSv1.2' }, (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      req.end();
    });
  const strict = await listen(await app(t, { tls: { cert, key, minVersion: '1.3' } }), '127.0.0.1:0');
  assert.notEqual(await handshake(strict), '404');
  const lenient = await listen(await app(t, { tls: { cert, key, minVersion: '1.2' } }), '127.0.0.1:0');
  assert.equal(await handshake(lenient), '404');
});

test('TLS setup errors name the file and fail at start', async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = selfSignedCert(dir);
  const other = selfSignedCert(dir, 'other');
  const missing = join(dir, 'public_key');
  await assert.rejects(app(t, { tls: { cert: missing, key } }), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'PYRS_TLS_SETUP');
    assert.ok(err.message.includes(missing));
    assert.match(err.hint ?? '', /--tls-cert/);
    return true;
  });
  await assert.rejects(app(t, { tls: { cert, key: join(dir, 'private_key') } }), { code: 'PYRS_TLS_SETUP', message: /private_key/ });
  await assert.rejects(app(t, { tls: { cert, key: other.key } }), { code: 'PYRS_TLS_SETUP', message: /cannot use TLS certificate/ });
  await assert.rejects(app(t, { tls: { cert, key, minVersion: '1.1' } }), { code: 'PYRS_TLS_SETUP', message: /--tls-min-ver/ });
});
