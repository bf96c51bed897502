// Uploads and downloads over real HTTP against the real local backend: verification,
// aborted and concurrent uploads, a 100 MiB streamed blob, quota refusals before the
// body is read, and faults of the backend while a reply streams.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StorageError, StorageErrorCode, type StorageProvider } from '@pyrestserver/core';
import { hashStream, pseudoRandomStream, randomBlob } from './support/data.js';
import { request } from './support/http.js';
import { startServer, type TestServer } from './support/server.js';

const OCTETS = { 'content-type': 'application/octet-stream' };
const V2 = 'application/vnd.x.restic.rest.v2';

const upload = (server: TestServer, path: string, data: Buffer) =>
  request(server.url, path, { method: 'POST', body: data, headers: OCTETS });

/** Every file below `dir` (relative paths): to see that nothing, not even a temp file, is left. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1)).sort();
}

/** Poll `check` every 20 ms until it returns true or `ms` passes (sequencing, not a timing assertion). */
async function waitUntil(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/** Send only the head of a request over a raw socket and return the status of the first reply bytes. */
function statusBeforeBody(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (chunk) => {
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'));
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected reply ${chunk.toString('latin1').slice(0, 100)}`));
    });
    socket.write(`${head}\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

describe('verified uploads', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
    await request(server.url, '/up/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  it('a digest mismatch is 400 and leaves no file, temporary or not', async () => {
    const blob = randomBlob(200_000);
    const corrupt = Buffer.from(blob.data);
    corrupt[12345] ^= 1;
    const reply = await upload(server, `/up/data/${blob.name}`, corrupt);
    assert.equal(reply.status, 400);
    assert.equal((await request(server.url, `/up/data/${blob.name}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await filesBelow(join(server.dir, 'up')), []);
  });

  it('a client that hangs up mid-body stores nothing, lists nothing, leaves no temp file', async () => {
    const blob = randomBlob(4 * 1024 * 1024);
    const dir = join(server.dir, 'up/data', blob.name.slice(0, 2));
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /up/data/${blob.name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${blob.data.length}\r\n\r\n`,
    );
    socket.write(blob.data.subarray(0, 1024 * 1024));
    // Let the server start writing (a temporary file appears), then hang up.
    await waitUntil(async () => (await readdir(dir)).length > 0, 3000);
    socket.destroy();
    assert.ok(await waitUntil(async () => (await readdir(dir)).length === 0), 'temporary file removed');
    assert.equal((await request(server.url, `/up/data/${blob.name}`, { method: 'HEAD' })).status, 404);
    const list = await request(server.url, '/up/data/', { headers: { accept: V2 } });
    assert.deepEqual(JSON.parse(list.body.toString()), []);
    // restic retries such an upload: that must work.
    assert.equal((await upload(server, `/up/data/${blob.name}`, blob.data)).status, 200);
    assert.deepEqual((await request(server.url, `/up/data/${blob.name}`)).body, blob.data);
  });

  it('concurrent uploads of one name: some 200, the rest 403, and the file is whole', async () => {
    const blob = randomBlob(3 * 1024 * 1024);
    const replies = await Promise.all(Array.from({ length: 4 }, () => upload(server, `/up/index/${blob.name}`, blob.data)));
    const statuses = replies.map((r) => r.status);
    assert.ok(statuses.includes(200), `statuses ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 403), `statuses ${statuses}`);
    assert.deepEqual((await request(server.url, `/up/index/${blob.name}`)).body, blob.data);
    assert.deepEqual(await filesBelow(join(server.dir, 'up/index')), [blob.name]);
  });

  it('a body shorter than its Content-Length (the client half-closes) stores nothing', async () => {
    const blob = randomBlob(1000);
    // Announce more than is sent, then half-close: the server sees a body that ends early.
    const socket = net.connect(server.port, '127.0.0.1');
    const reply = new Promise<string>((resolve) => {
      let raw = '';
      socket.on('data', (c) => (raw += c.toString('latin1')));
      socket.on('close', () => resolve(raw));
      socket.on('error', () => resolve(raw));
    });
    socket.write(`POST /up/keys/${blob.name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000\r\n\r\n`);
    socket.end(blob.data);
    await reply;
    assert.ok(await waitUntil(async () => (await filesBelow(join(server.dir, 'up/keys'))).length === 0));
    assert.equal((await request(server.url, `/up/keys/${blob.name}`, { method: 'HEAD' })).status, 404);
  });
});

describe('without upload verification', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ verifyUpload: false });
    await request(server.url, '/nv/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  it('a body that is not its name is stored (--no-verify-upload)', async () => {
    const name = randomBlob(1).name;
    assert.equal((await upload(server, `/nv/data/${name}`, Buffer.from('not the hash'))).status, 200);
    assert.equal((await request(server.url, `/nv/data/${name}`)).body.toString(), 'not the hash');
  });

  it('concurrent uploads of different bodies under one name: exactly one wins, never a mixed file', async () => {
    const name = randomBlob(1).name;
    const bodies = [0, 1, 2].map((i) => Buffer.alloc(2 * 1024 * 1024 + i, i + 1));
    const replies = await Promise.all(bodies.map((b) => upload(server, `/nv/snapshots/${name}`, b)));
    const winners = replies.flatMap((r, i) => (r.status === 200 ? [i] : []));
    assert.equal(winners.length, 1, `statuses ${replies.map((r) => r.status)}`);
    assert.ok(replies.every((r) => r.status === 200 || r.status === 403));
    assert.deepEqual((await request(server.url, `/nv/snapshots/${name}`)).body, bodies[winners[0]!]);
  });
});

describe('a 100 MiB blob', () => {
  const SIZE = 100 * 1024 * 1024;
  let server: TestServer;
  let name: string;
  before(async () => {
    server = await startServer();
    await request(server.url, '/big/?create=true', { method: 'POST' });
    name = (await hashStream(pseudoRandomStream('big', SIZE))).sha256;
  });
  after(() => server.close());

  it('streams up and down intact, and memory does not grow with its size', async (t) => {
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const put = await request(server.url, `/big/data/${name}`, {
        method: 'POST',
        body: pseudoRandomStream('big', SIZE),
        headers: { ...OCTETS, 'content-length': SIZE },
      });
      assert.equal(put.status, 200);
      const got = await new Promise<{ sha256: string; size: number; status: number }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: server.port, path: `/big/data/${name}`, agent: false }, (res) => {
            hashStream(res).then((h) => resolve({ ...h, status: res.statusCode! }), reject);
          })
          .on('error', reject);
      });
      assert.deepEqual(got, { sha256: name, size: SIZE, status: 200 });
    } finally {
      clearInterval(sampler);
    }
    // Client and server share this process; buffering the blob anywhere would add >= 100 MiB.
    const growth = (peak - base) / 1024 / 1024;
    t.diagnostic(`rss growth during 100 MiB up and down: ${growth.toFixed(1)} MiB`);
    assert.ok(growth < 80, `rss grew by ${growth.toFixed(1)} MiB`);
  });

  it('a range in the middle of it is exact', async () => {
    const start = 50 * 1024 * 1024 + 7;
    const reply = await request(server.url, `/big/data/${name}`, { headers: { range: `bytes=${start}-${start + 99_999}` } });
    assert.equal(reply.status, 206);
    assert.equal(reply.headers['content-range'], `bytes ${start}-${start + 99_999}/${SIZE}`);
    const whole = pseudoRandomStream('big', start + 100_000);
    const chunks: Buffer[] = [];
    for await (const c of whole as AsyncIterable<Buffer>) chunks.push(c);
    assert.deepEqual(reply.body, Buffer.concat(chunks).subarray(start));
  });
});

describe('policies run before the provider and the body', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ maxSize: 100_000 });
    await request(server.url, '/q/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  it('an upload over the quota is 507 before its body is sent', async () => {
    const name = randomBlob(1).name;
    const status = await statusBeforeBody(
      server.port,
      `POST /q/data/${name} HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000`,
    );
    assert.equal(status, 507);
    assert.deepEqual(await filesBelow(join(server.dir, 'q')), []);
  });

  it('failed uploads give their reserved space back; deletes free space', async () => {
    const [a, b, c] = [randomBlob(40_000), randomBlob(40_000), randomBlob(40_000)];
    const bad = Buffer.from(a.data);
    bad[0] ^= 1;
    assert.equal((await upload(server, `/q/data/${a.name}`, bad)).status, 400); // reserved, then released
    assert.equal((await upload(server, `/q/data/${a.name}`, a.data)).status, 200); // 40 000 used
    assert.equal((await upload(server, `/q/data/${a.name}`, a.data)).status, 403); // exists: released too
    assert.equal((await upload(server, `/q/data/${b.name}`, b.data)).status, 200); // 80 000 used
    assert.equal((await upload(server, `/q/data/${c.name}`, c.data)).status, 507); // 120 000 > 100 000
    assert.equal((await request(server.url, `/q/data/${a.name}`, { method: 'DELETE' })).status, 200);
    assert.equal((await upload(server, `/q/data/${c.name}`, c.data)).status, 200);
  });
});

describe('policy hooks after each operation (seen through the --prometheus counters)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ prometheus: true, prometheusNoAuth: true });
    await request(server.url, '/m/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  const counter = async (name: string): Promise<number> => {
    const text = (await request(server.url, '/metrics')).body.toString();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('repo="m"') && l.includes('type="data"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };

  it('written, read (bytes actually served) and deleted (with the size) are reported once each', async () => {
    const blob = randomBlob(1000);
    const path = `/m/data/${blob.name}`;
    assert.equal((await upload(server, path, blob.data)).status, 200);
    assert.equal((await upload(server, path, blob.data)).status, 403); // not written
    assert.equal((await request(server.url, path, { headers: { range: 'bytes=100-199' } })).status, 206);
    assert.equal((await request(server.url, path, { method: 'HEAD' })).status, 200); // not a read
    assert.equal((await request(server.url, path, { method: 'DELETE' })).status, 200);
    assert.equal((await request(server.url, path, { method: 'DELETE' })).status, 200); // gone: not counted
    assert.equal(await counter('rest_server_blob_write_total'), 1);
    assert.equal(await counter('rest_server_blob_write_bytes_total'), 1000);
    assert.equal(await counter('rest_server_blob_read_total'), 1);
    assert.equal(await counter('rest_server_blob_read_bytes_total'), 100);
    assert.equal(await counter('rest_server_blob_delete_total'), 1);
    assert.equal(await counter('rest_server_blob_delete_bytes_total'), 1000);
  });
});

describe('append-only', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ appendOnly: true });
    await request(server.url, '/ao/?create=true', { method: 'POST' });
  });
  after(() => server.close());

  it('refuses deletes except of locks, and keeps the file', async () => {
    const blob = randomBlob(100);
    assert.equal((await upload(server, `/ao/snapshots/${blob.name}`, blob.data)).status, 200);
    assert.equal((await request(server.url, `/ao/snapshots/${blob.name}`, { method: 'DELETE' })).status, 403);
    assert.equal((await request(server.url, `/ao/snapshots/${blob.name}`, { method: 'HEAD' })).status, 200);
    assert.equal((await upload(server, `/ao/locks/${blob.name}`, blob.data)).status, 200);
    assert.equal((await request(server.url, `/ao/locks/${blob.name}`, { method: 'DELETE' })).status, 200);
  });
});

describe('backend faults', () => {
  const blob = randomBlob(2 * 1024 * 1024);
  let failReads = false;
  let unavailable = false;
  let server: TestServer;

  /** The real local provider, with faults switched on by the test. */
  const faulty = (local: StorageProvider): StorageProvider =>
    ({
      createRepository: (repo) => local.createRepository(repo),
      repositoryExists: (repo) => local.repositoryExists(repo),
      write: (ref, body, size) => local.write(ref, body, size),
      list: (repo, type) => local.list(repo, type),
      delete: (ref) => local.delete(ref),
      close: async () => local.close?.(),
      async stat(ref: Parameters<StorageProvider['stat']>[0]) {
        if (unavailable) throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, 'backend down');
        return local.stat(ref);
      },
      async read(...args: Parameters<StorageProvider['read']>): Promise<Readable> {
        const stream = await local.read(...args);
        if (!failReads) return stream;
        let seen = 0;
        const breaker = new Transform({
          transform(chunk: Buffer, _e, cb) {
            seen += chunk.length;
            if (seen > 1024 * 1024) cb(new Error('disk read failed')); // after the first chunks are sent
            else cb(null, chunk);
          },
        });
        return pipeline(stream, breaker, () => {});
      },
    }) satisfies StorageProvider;

  before(async () => {
    server = await startServer({ wrapProvider: faulty });
    await request(server.url, '/f/?create=true', { method: 'POST' });
    assert.equal((await upload(server, `/f/data/${blob.name}`, blob.data)).status, 200);
  });
  after(() => server.close());

  it('a stream that fails mid-reply cuts the connection: never a truncated reply passing as complete', async () => {
    failReads = true;
    try {
      // Content-Length was sent with the headers: the only honest end is a cut connection.
      await assert.rejects(request(server.url, `/f/data/${blob.name}`), (err: NodeJS.ErrnoException) => {
        assert.match(String(err.code ?? err.message), /ECONNRESET|aborted|socket hang up/);
        return true;
      });
    } finally {
      failReads = false;
    }
    assert.deepEqual((await request(server.url, `/f/data/${blob.name}`)).body, blob.data);
  });

  it('an unavailable backend is 503 (restic retries)', async () => {
    unavailable = true;
    try {
      assert.equal((await request(server.url, `/f/data/${blob.name}`, { method: 'HEAD' })).status, 503);
      const get = await request(server.url, `/f/data/${blob.name}`);
      assert.equal(get.status, 503);
      assert.equal(get.body.toString(), 'Service Unavailable\n');
    } finally {
      unavailable = false;
    }
  });
});
