// Hostile or broken clients over real HTTP against the real local backend: a client that
// stalls mid-upload or never reads its reply must not hold a connection, a file handle,
// a temporary file or a quota reservation forever; concurrent duplicate requests must
// not be counted twice.
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { StorageProvider } from '@pyrestserver/core';
import { randomBlob } from './support/data.js';
import { request } from './support/http.js';
import { startServer, type TestServer } from './support/server.js';

const OCTETS = { 'content-type': 'application/octet-stream' };

/** Poll `check` every 20 ms until it returns true or `ms` passes (sequencing, not a timing assertion). */
async function waitUntil(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

const connections = (server: TestServer) =>
  new Promise<number>((resolve, reject) => server.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** Every file below `dir`, temporary ones included. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('idle connections', () => {
  let server: TestServer;
  const streams: Readable[] = [];
  before(async () => {
    server = await startServer({
      maxSize: 64 * 1024 * 1024,
      wrapProvider: (local): StorageProvider =>
        Object.assign(Object.create(local) as StorageProvider, {
          read: async (...args: Parameters<StorageProvider['read']>) => {
            const stream = await local.read(...args);
            streams.push(stream);
            return stream;
          },
          open: async (...args: Parameters<NonNullable<StorageProvider['open']>>) => {
            const opened = await local.open!(...args);
            if (opened.body instanceof Readable) streams.push(opened.body);
            return opened;
          },
        }),
    });
    await request(server.url, '/h/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  it('are closed after a limit of inactivity (Fastify sets none)', () => {
    const timeout = server.app.server.timeout;
    assert.ok(timeout >= 60_000 && timeout <= 30 * 60_000, `socket inactivity timeout ${timeout} ms`);
  });

  it('an upload that stalls is cut: no temporary file, no quota reservation left', async () => {
    server.app.server.setTimeout(300); // the same mechanism, shortened for the test (new connections)
    try {
      const blob = randomBlob(40 * 1024 * 1024);
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        `POST /h/data/${blob.name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Length: ${blob.data.length}\r\n\r\n`,
      );
      socket.write(blob.data.subarray(0, 1000)); // then nothing, never
      assert.ok(await waitUntil(async () => (await filesBelow(join(server.dir, 'h'))).length > 0), 'the upload started');
      assert.ok(await waitUntil(async () => (await connections(server)) === 0), 'the server closed the stalled connection');
      assert.ok(await waitUntil(async () => (await filesBelow(join(server.dir, 'h'))).length === 0), 'no temporary file left');
      socket.destroy();
      // The 40 MiB it reserved of the 64 MiB quota are free again.
      const res = await request(server.url, `/h/data/${blob.name}`, { method: 'POST', body: blob.data, headers: OCTETS });
      assert.equal(res.status, 200);
    } finally {
      server.app.server.setTimeout(0);
    }
  });

  it('a client that never reads its reply is cut, and the file is closed', async () => {
    const blob = randomBlob(32 * 1024 * 1024); // more than socket buffers hold
    // Room in the quota: remove the previous test's file first.
    for (const name of await filesBelow(join(server.dir, 'h', 'data'))) {
      assert.equal((await request(server.url, `/h/data/${name}`, { method: 'DELETE' })).status, 200);
    }
    const res = await request(server.url, `/h/keys/${blob.name}`, { method: 'POST', body: blob.data, headers: OCTETS });
    assert.equal(res.status, 200);
    server.app.server.setTimeout(300);
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.pause(); // never reads
      socket.write(`GET /h/keys/${blob.name} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      assert.ok(await waitUntil(() => streams.length > 0), 'the read started');
      assert.ok(await waitUntil(async () => (await connections(server)) === 0), 'the server closed the connection');
      assert.ok(await waitUntil(() => streams.every((s) => s.destroyed)), 'the file stream was released');
      socket.destroy();
    } finally {
      server.app.server.setTimeout(0);
    }
  });
});

describe('concurrent DELETEs of one file', () => {
  let server: TestServer;
  let stats = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let gated = '';
  before(async () => {
    server = await startServer({
      maxSize: 1000,
      prometheus: true,
      prometheusNoAuth: true,
      wrapProvider: (local): StorageProvider =>
        Object.assign(Object.create(local) as StorageProvider, {
          stat: async (ref: Parameters<StorageProvider['stat']>[0]) => {
            if (ref.name === gated) stats++;
            return local.stat(ref);
          },
          // The delete of the gated file waits, so that every request has its chance to stat it.
          delete: async (ref: Parameters<StorageProvider['delete']>[0]) => {
            if (ref.name === gated) await gate;
            return local.delete(ref);
          },
        }),
    });
    await server.provider.createRepository('d'); // not through the server: creating is charged against the quota
  });
  after(() => server.close());

  it('take the size off the quota and the metrics once', async () => {
    const [a, b, c] = [randomBlob(400), randomBlob(400), randomBlob(900)];
    const upload = (blob: { name: string; data: Buffer }) =>
      request(server.url, `/d/data/${blob.name}`, { method: 'POST', body: blob.data, headers: OCTETS });
    assert.equal((await upload(a)).status, 200);
    assert.equal((await upload(b)).status, 200); // 800 of 1000 used
    gated = b.name;
    const deletes = Array.from({ length: 3 }, () => request(server.url, `/d/data/${b.name}`, { method: 'DELETE' }));
    // Without joining, each of the three stats the file before any removes it; joined, one
    // does. Wait for three (or long enough for them), then let the delete go.
    await waitUntil(() => stats >= 3, 1000);
    release();
    assert.deepEqual((await Promise.all(deletes)).map((r) => r.status), [200, 200, 200]);
    // 400 stored: 400 + 900 > 1000.
    assert.equal((await upload(c)).status, 507);
    const metrics = (await request(server.url, '/metrics')).body.toString();
    const deleted = metrics.split('\n').find((l) => l.startsWith('rest_server_blob_delete_bytes_total{') && l.includes('repo="d"'));
    assert.equal(deleted?.slice(deleted.lastIndexOf(' ') + 1), '400');
  });
});
