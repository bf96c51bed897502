import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { buildPolicies } from '../src/policies/index.js';
import { QuotaPolicy, REPOSITORY_CHARGE_BYTES } from '../src/policies/quota.js';
import type { Access } from '../src/policies/types.js';
import type { StorageProvider } from '../src/storage/types.js';
import { blob, headersOnlyUpload, local, silentLogger, startServer, tempDir, upload } from './security-support.js';

const post = upload;

/** A repository (1-byte config) holding one data blob per content. */
async function seed(provider: StorageProvider, repo: string, ...contents: string[]) {
  await provider.createRepository(repo);
  await provider.write({ repo, type: 'config', name: 'config' }, Readable.from([Buffer.from('c')]), 1);
  for (const c of contents) {
    const b = blob(c);
    await provider.write({ repo, type: 'data', name: b.name }, Readable.from([b.body]), b.body.length);
  }
}

async function localProvider(t: TestContext) {
  return local.create({ path: await tempDir(t) }, { logger: silentLogger, groupAccessible: false });
}

test('append-only: deleting locks works, deleting anything else is 403 and keeps the file', async (t) => {
  const { url, provider } = await startServer(t, { appendOnly: true });
  await provider.createRepository('r');
  const data = blob('some data');
  const lock = blob('a lock');
  assert.equal((await post(`${url}/r/data/${data.name}`, data.body)).status, 200);
  assert.equal((await post(`${url}/r/locks/${lock.name}`, lock.body)).status, 200);
  assert.equal((await post(`${url}/r/config`, Buffer.from('cfg'))).status, 200);

  assert.equal((await fetch(`${url}/r/data/${data.name}`, { method: 'DELETE' })).status, 403);
  assert.equal((await fetch(`${url}/r/config`, { method: 'DELETE' })).status, 403);
  assert.equal((await fetch(`${url}/r/locks/${lock.name}`, { method: 'DELETE' })).status, 200);
  assert.equal((await fetch(`${url}/r/data/${data.name}`)).status, 200);
  assert.equal((await fetch(`${url}/r/config`)).status, 200);
  // Overwrites stay refused (writes are exclusive).
  assert.equal((await post(`${url}/r/data/${data.name}`, data.body)).status, 403);
});

test('append-only per user and per repository; the most specific setting wins', async () => {
  const [policy] = await buildPolicies({
    provider: {} as StorageProvider,
    appendOnly: true,
    users: { admin: { appendOnly: false }, client: { appendOnly: true } },
    repos: { 'admin/locked': { appendOnly: true }, 'open': { appendOnly: false } },
  });
  const del = (user: string | undefined, repo: string, type: Access['type'] = 'data'): Access => ({ op: 'delete', user, repo, type, name: 'x' });
  const refused = (a: Access) => {
    try {
      policy!.authorize!(a);
      return false;
    } catch (err) {
      assert.equal((err as { code: string }).code, 'PYRS_FORBIDDEN');
      return true;
    }
  };
  assert.equal(refused(del('client', 'client/main')), true);
  assert.equal(refused(del('someone', 'x')), true, 'global flag');
  assert.equal(refused(del('admin', 'client/main')), false, 'user setting beats global');
  assert.equal(refused(del('admin', 'admin/locked')), true, 'repo setting beats user');
  assert.equal(refused(del('client', 'open')), false, 'repo setting beats user');
  assert.equal(refused(del('client', 'x', 'locks')), false, 'locks always');
  assert.equal(refused({ op: 'write', user: 'client', repo: 'x', type: 'data', name: 'y', size: 1 }), false);
});

test('no policy options, no policies (nothing to pay per request)', async () => {
  assert.deepEqual(await buildPolicies({ provider: {} as StorageProvider }), []);
});

test('quota: usage is counted at start; an upload that would pass --max-size is 507', async (t) => {
  const root = await tempDir(t);
  const seeded = await local.create({ path: root }, { logger: silentLogger, groupAccessible: false });
  await seed(seeded, 'a', '0123456789'); // 10 + 1 bytes
  await seed(seeded, 'b/c', '01234'); // 5 + 1 bytes
  const { url } = await startServer(t, { maxSize: 30 }, root);

  const big = blob('x'.repeat(14)); // 17 + 14 > 30
  const res = await post(`${url}/a/data/${big.name}`, big.body);
  assert.equal(res.status, 507);
  const fits = blob('y'.repeat(13)); // 17 + 13 = 30
  assert.equal((await post(`${url}/a/data/${fits.name}`, fits.body)).status, 200);
  const one = blob('z');
  assert.equal((await post(`${url}/b/c/data/${one.name}`, one.body)).status, 507);
  // Deletes free space.
  assert.equal((await fetch(`${url}/a/data/${fits.name}`, { method: 'DELETE' })).status, 200);
  assert.equal((await post(`${url}/b/c/data/${one.name}`, one.body)).status, 200);
});

test('quota: the 507 comes from the headers alone, before any body byte is sent', async (t) => {
  const { url, provider } = await startServer(t, { maxSize: 1000 });
  await provider.createRepository('r');
  const res = await headersOnlyUpload(`${url}/r/data/${'ab'.repeat(32)}`, { 'content-length': String(10 ** 12) });
  assert.equal(res.statusCode, 507);
});

test('quota: failed uploads (bad digest, client abort, already exists) do not leak reserved space', async (t) => {
  const { url, provider } = await startServer(t, { maxSize: 150 });
  await provider.createRepository('r');
  const body = Buffer.from('z'.repeat(60));
  // Wrong digest: 400, space released.
  assert.equal((await post(`${url}/r/data/${'0'.repeat(64)}`, body)).status, 400);
  // Already exists.
  const ok = blob(body);
  assert.equal((await post(`${url}/r/data/${ok.name}`, body)).status, 200);
  assert.equal((await post(`${url}/r/data/${ok.name}`, body)).status, 403);
  // Client aborts mid-body.
  await new Promise<void>((resolve) => {
    const req = httpRequest(`${url}/r/data/${'1'.repeat(64)}`, { method: 'POST', headers: { 'content-length': '60' } });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(Buffer.alloc(10), () => setTimeout(() => req.destroy(), 50));
  });
  // The aborted upload's handler finishes asynchronously: poll.
  for (let i = 0; i < 50; i++) {
    const b = blob('w'.repeat(90));
    const status = (await post(`${url}/r/data/${b.name}`, b.body)).status;
    if (status === 200) return; // 60 + 90 = 150: fits only when nothing leaked
    assert.equal(status, 507);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('reserved space of failed uploads was never released');
});

test('per-user and per-repository quotas count only their repositories', async (t) => {
  const root = await tempDir(t);
  const seeded = await local.create({ path: root }, { logger: silentLogger, groupAccessible: false });
  await seed(seeded, 'alice/one', 'a'.repeat(10));
  await seed(seeded, 'bob', 'b'.repeat(20));
  // Made before the start: creating them through the server would be charged (see below).
  for (const repo of ['alice/two', 'alice/three']) await seeded.createRepository(repo);
  const { url } = await startServer(t, { users: { alice: { maxSize: 25 } }, repos: { 'alice/two': { maxSize: 8 } } }, root);
  const upload = (repo: string, content: string) => {
    const b = blob(content);
    return post(`${url}/${repo}/data/${b.name}`, b.body).then((r) => r.status);
  };
  assert.equal(await upload('alice/two', 'n'.repeat(9)), 507, 'repository quota: 9 > 8');
  assert.equal(await upload('alice/three', 't'.repeat(12)), 200, 'user quota: 11 + 12 <= 25');
  assert.equal(await upload('alice/two', 'm'.repeat(8)), 507, 'user quota: 23 + 8 > 25');
  assert.equal(await upload('alice/two', 'k'.repeat(2)), 200, 'both fit');
  assert.equal(await upload('bob', 'x'.repeat(1000)), 200, 'bob has no quota');
});

test('quota after a restart counts every stored file, also in folders without a config (as rest-server)', async (t) => {
  const root = await tempDir(t);
  const seeded = await local.create({ path: root }, { logger: silentLogger, groupAccessible: false });
  await seed(seeded, 'a', 'x'.repeat(10)); // 11 bytes, a repository
  await seeded.createRepository('u/noconfig');
  const b = blob('y'.repeat(40));
  await seeded.write({ repo: 'u/noconfig', type: 'data', name: b.name }, Readable.from([b.body]), 40);
  const { url } = await startServer(t, { maxSize: 60, users: { u: { maxSize: 45 } } }, root);
  const c = blob('z'.repeat(10)); // 51 + 10 > 60: refused only when the 40 bytes are counted
  assert.equal((await post(`${url}/a/data/${c.name}`, c.body)).status, 507);
  const d = blob('w'.repeat(6)); // user u: 40 + 6 > 45
  assert.equal((await post(`${url}/u/noconfig/data/${d.name}`, d.body)).status, 507);
  const e = blob('v'.repeat(5));
  assert.equal((await post(`${url}/u/noconfig/data/${e.name}`, e.body)).status, 200);
  // Deleting the formerly uncounted file frees its bytes, and only those.
  assert.equal((await fetch(`${url}/u/noconfig/data/${b.name}`, { method: 'DELETE' })).status, 200);
  assert.equal((await post(`${url}/a/data/${c.name}`, c.body)).status, 200);
});

test('quota: creating a repository is charged, and refused with 507 once the quota is used up', async (t) => {
  const { url, root } = await startServer(t, { maxSize: 1000 });
  const create = (repo: string) => fetch(`${url}/${repo}/?create=true`, { method: 'POST' }).then((r) => r.status);
  assert.equal(await create('u/r0'), 200);
  // The first creation used the quota up: no more repositories, however many are asked for.
  const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => create(`u/r${i + 1}`)));
  assert.deepEqual(new Set(statuses), new Set([507]));
  assert.deepEqual(await readdir(join(root, 'u')), ['r0']);
  // Creating one that exists is free and still works; a POST without create=true is not charged.
  assert.equal(await create('u/r0'), 200);
  const big = await startServer(t, { maxSize: 3 * REPOSITORY_CHARGE_BYTES });
  assert.equal((await fetch(`${big.url}/x/`, { method: 'POST' })).status, 400);
  for (const repo of ['x1', 'x2', 'x3']) assert.equal(await fetch(`${big.url}/${repo}/?create=true`, { method: 'POST' }).then((r) => r.status), 200, repo);
  assert.equal(await fetch(`${big.url}/x4/?create=true`, { method: 'POST' }).then((r) => r.status), 507);
});

test('QuotaPolicy: reserve in authorize, release on writeFailed, adjust on written, free on deleted', async (t) => {
  const provider = await localProvider(t);
  const q = await QuotaPolicy.create({ maxSize: 100 }, provider);
  const w = (size: number): Access => ({ op: 'write', user: undefined, repo: 'r', type: 'data', name: 'n', size });
  const a = w(60);
  q.authorize(a);
  assert.equal(q.used, 60);
  assert.throws(() => q.authorize(w(41)), { code: 'PYRS_INSUFFICIENT_STORAGE' });
  assert.equal(q.used, 60, 'a refused upload reserves nothing');
  q.writeFailed(a);
  q.writeFailed(a);
  assert.equal(q.used, 0, 'released once only');
  const b = w(40);
  q.authorize(b);
  q.written(b, 40);
  q.writeFailed(b);
  assert.equal(q.used, 40, 'a finished write is not released');
  q.deleted({ op: 'delete', user: undefined, repo: 'r', type: 'data', name: 'n' }, 40);
  assert.equal(q.used, 0);
  assert.throws(() => q.authorize({ ...w(0), size: undefined }), { code: 'PYRS_INVALID_INPUT' });
});

test('a total quota over a backend that cannot list repositories is a clear ConfigError', async () => {
  const provider = { repositoryExists: async () => false } as unknown as StorageProvider;
  await assert.rejects(buildPolicies({ provider, maxSize: 10 }), { code: 'PYRS_OPTIONS_INVALID', message: /list its repositories/ });
});

test('quota: after a 507 for a large announced body the server closes the connection instead of reading the body', async (t) => {
  const { url, provider } = await startServer(t, { maxSize: 1000 });
  await provider.createRepository('r');
  const { port } = new URL(url);
  const outcome = await new Promise<{ reply: string; closedAfterMs: number; sent: number }>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let reply = '';
    let sent = 0;
    let replied = 0;
    const chunk = Buffer.alloc(64 * 1024);
    socket.on('error', () => {}); // EPIPE/ECONNRESET while still writing: expected
    socket.on('data', (d) => {
      reply += d;
      replied ||= Date.now();
    });
    socket.on('close', () => {
      clearInterval(pump);
      resolve({ reply, closedAfterMs: replied ? Date.now() - replied : -1, sent });
    });
    socket.write(`POST /r/data/${'ab'.repeat(32)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${64 * 2 ** 20}\r\n\r\n`);
    // Keep sending body bytes, as a client would: a server that drains reads them all.
    const pump = setInterval(() => {
      if (!socket.destroyed && sent < 64 * 2 ** 20) socket.write(chunk, () => (sent += chunk.length));
    }, 5);
    setTimeout(() => reject(new Error(`connection still open after 5 s; ${sent} bytes sent`)), 5000).unref();
  });
  assert.match(outcome.reply, /^HTTP\/1\.1 507 /);
  assert.match(outcome.reply, /connection: close/i);
  assert.ok(outcome.closedAfterMs >= 0 && outcome.closedAfterMs < 2000, `closed ${outcome.closedAfterMs} ms after the reply`);
  assert.ok(outcome.sent < 32 * 2 ** 20, `the server took ${outcome.sent} body bytes`);
});
