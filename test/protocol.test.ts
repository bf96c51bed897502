// The restic REST protocol over real HTTP against the real local backend: every route,
// its status codes, v1/v2 listings and Range requests.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBlob } from './support/data.js';
import { request } from './support/http.js';
import { startServer, type TestServer } from './support/server.js';

const V2 = 'application/vnd.x.restic.rest.v2';
const OCTETS = { 'content-type': 'application/octet-stream' };

let server: TestServer;
const call = (method: string, path: string, options: Parameters<typeof request>[2] = {}) =>
  request(server.url, path, { method, ...options });
const upload = (path: string, data: Buffer) => call('POST', path, { body: data, headers: OCTETS });

before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

describe('repositories', () => {
  it('POST {repo}/?create=true creates the layout and answers 200, also when it exists', async () => {
    assert.equal((await call('POST', '/alice/main/?create=true')).status, 200);
    const data = await stat(join(server.dir, 'alice/main/data/ff'));
    assert.ok(data.isDirectory());
    for (const type of ['keys', 'locks', 'snapshots', 'index']) {
      assert.ok((await stat(join(server.dir, 'alice/main', type))).isDirectory(), type);
    }
    assert.equal((await call('POST', '/alice/main/?create=true')).status, 200);
  });

  it('POST {repo}/ without create=true is 400 and creates nothing', async () => {
    const reply = await call('POST', '/bob/');
    assert.equal(reply.status, 400);
    assert.equal(reply.body.toString(), 'Bad Request\n');
    assert.equal((await call('POST', '/bob/?create=false')).status, 400);
    await assert.rejects(stat(join(server.dir, 'bob')), { code: 'ENOENT' });
  });

  it('creates the root repository and one-level repositories', async () => {
    assert.equal((await call('POST', '/?create=true')).status, 200);
    assert.ok((await stat(join(server.dir, 'data/00'))).isDirectory());
    assert.equal((await call('POST', '/solo/?create=true')).status, 200);
    assert.ok((await stat(join(server.dir, 'solo/keys'))).isDirectory());
  });

  it('DELETE {repo}/ is 405 with Allow: POST; so is GET', async () => {
    for (const method of ['DELETE', 'GET', 'PUT']) {
      const reply = await call(method, '/alice/main/');
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'POST');
    }
  });
});

describe('config', () => {
  const config = Buffer.from('{"version":2,"id":"x"} pretend-encrypted');

  it('HEAD and GET are 404 before the config exists', async () => {
    await call('POST', '/cfg/?create=true');
    assert.equal((await call('HEAD', '/cfg/config')).status, 404);
    assert.equal((await call('GET', '/cfg/config')).status, 404);
  });

  it('POST stores it (no hash check for config), HEAD gives its length, GET its bytes', async () => {
    assert.equal((await upload('/cfg/config', config)).status, 200);
    const head = await call('HEAD', '/cfg/config');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(config.length));
    assert.equal(head.body.length, 0);
    const get = await call('GET', '/cfg/config');
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, config);
  });

  it('a second POST is 403 and leaves the first config in place', async () => {
    const reply = await upload('/cfg/config', Buffer.from('other'));
    assert.equal(reply.status, 403);
    assert.deepEqual((await call('GET', '/cfg/config')).body, config);
  });

  it('config of a repository that does not exist is 404', async () => {
    assert.equal((await call('HEAD', '/nowhere/config')).status, 404);
    assert.equal((await call('GET', '/nowhere/config')).status, 404);
    assert.equal((await upload('/nowhere/config', config)).status, 404);
  });

  it('wrong methods are 405 with Allow', async () => {
    const reply = await call('PUT', '/cfg/config', { body: 'x' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'HEAD, GET, POST, DELETE');
  });
});

describe('files', () => {
  const blob = randomBlob(10_000);
  const path = `/alice/main/data/${blob.name}`;

  it('HEAD/GET of a missing file are 404', async () => {
    assert.equal((await call('HEAD', path)).status, 404);
    assert.equal((await call('GET', path)).status, 404);
  });

  it('POST stores a file; HEAD gives its size; GET its bytes', async () => {
    assert.equal((await upload(path, blob.data)).status, 200);
    const onDisk = await stat(join(server.dir, 'alice/main/data', blob.name.slice(0, 2), blob.name));
    assert.equal(onDisk.size, blob.data.length);
    const head = await call('HEAD', path);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(blob.data.length));
    const get = await call('GET', path);
    assert.equal(get.status, 200);
    assert.equal(get.headers['content-type'], 'application/octet-stream');
    assert.equal(get.headers['accept-ranges'], 'bytes');
    assert.deepEqual(get.body, blob.data);
  });

  it('uploads ignore the Content-Type, as rest-server does (even one that does not parse)', async () => {
    for (const contentType of ['text/plain', 'foo', 'a/b; charset=']) {
      const other = randomBlob(100);
      const reply = await call('POST', `/alice/main/keys/${other.name}`, { body: other.data, headers: { 'content-type': contentType } });
      assert.equal(reply.status, 200, contentType);
      assert.deepEqual((await call('GET', `/alice/main/keys/${other.name}`)).body, other.data);
    }
  });

  it('POST of an existing file is 403 and keeps it', async () => {
    assert.equal((await upload(path, blob.data)).status, 403);
    assert.deepEqual((await call('GET', path)).body, blob.data);
  });

  it('refused uploads of up to 64 KiB leave a keep-alive connection usable (the unread body is drained)', async () => {
    let connections = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const connect = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof connect>) => {
      connections++;
      return connect(...args);
    }) as typeof agent.createConnection;
    try {
      // Larger refused bodies are not drained: the connection is closed (docs/security.md).
      const big = Buffer.alloc(60 * 1024, 7);
      for (let i = 0; i < 3; i++) {
        assert.equal((await call('POST', path, { body: blob.data, headers: OCTETS, agent })).status, 403);
        assert.equal((await call('POST', `/nowhere/data/${blob.name}`, { body: big, headers: OCTETS, agent })).status, 404);
        assert.equal((await call('HEAD', path, { agent })).status, 200);
      }
      assert.equal(connections, 1, 'all requests went over one connection');
    } finally {
      agent.destroy();
    }
  });

  it('POST whose body is not its name is 400 and stores nothing', async () => {
    const other = randomBlob(500);
    const reply = await upload(`/alice/main/keys/${other.name}`, Buffer.concat([other.data, Buffer.from('!')]));
    assert.equal(reply.status, 400);
    assert.equal((await call('HEAD', `/alice/main/keys/${other.name}`)).status, 404);
  });

  it('POST into a repository that does not exist is 404', async () => {
    const other = randomBlob(100);
    assert.equal((await upload(`/nowhere/keys/${other.name}`, other.data)).status, 404);
  });

  it('POST without Content-Length is 411', async () => {
    const other = randomBlob(100);
    const { Readable } = await import('node:stream');
    const reply = await call('POST', `/alice/main/keys/${other.name}`, {
      body: Readable.from([other.data]),
      headers: { ...OCTETS, 'transfer-encoding': 'chunked' },
    });
    assert.equal(reply.status, 411);
    assert.equal((await call('HEAD', `/alice/main/keys/${other.name}`)).status, 404);
  });

  it('an empty file can be stored and read', async () => {
    const empty = randomBlob(0);
    assert.equal((await upload(`/alice/main/snapshots/${empty.name}`, empty.data)).status, 200);
    const get = await call('GET', `/alice/main/snapshots/${empty.name}`);
    assert.equal(get.status, 200);
    assert.equal(get.body.length, 0);
  });

  it('DELETE removes a file and is 200 again when it is gone', async () => {
    const lock = randomBlob(64);
    const lockPath = `/alice/main/locks/${lock.name}`;
    assert.equal((await upload(lockPath, lock.data)).status, 200);
    assert.equal((await call('DELETE', lockPath)).status, 200);
    assert.equal((await call('HEAD', lockPath)).status, 404);
    assert.equal((await call('DELETE', lockPath)).status, 200);
  });

  it('a folder where a file would be is no file: HEAD/GET 404, DELETE 200, and the folder stays', async () => {
    const name = randomBlob(8).name;
    const folder = join(server.dir, 'alice/main/keys', name);
    await mkdir(join(folder, 'inside'), { recursive: true });
    const path = `/alice/main/keys/${name}`;
    assert.equal((await call('HEAD', path)).status, 404);
    assert.equal((await call('GET', path)).status, 404);
    assert.equal((await call('DELETE', path)).status, 200);
    assert.ok((await stat(join(folder, 'inside'))).isDirectory());
  });

  it('wrong methods are 405 with Allow', async () => {
    // PROPFIND and MKCOL are methods Fastify routes nowhere: the same plain-text 405.
    for (const method of ['PUT', 'PATCH', 'OPTIONS', 'PROPFIND', 'MKCOL']) {
      const reply = await call(method, path);
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'HEAD, GET, POST, DELETE');
      assert.equal(reply.body.toString(), 'Method Not Allowed\n');
    }
    assert.equal((await call('PROPFIND', '/favicon.ico')).status, 404);
  });

  it('names other than 64 lowercase hex and unknown paths are 404', async () => {
    for (const bad of [
      `/alice/main/data/${blob.name.toUpperCase()}`,
      `/alice/main/data/${blob.name.slice(2)}`,
      `/alice/main/data/${blob.name}x`,
      `/alice/main/other/${blob.name}`,
      '/alice/main/data',
      '/alice/main',
      '/favicon.ico',
    ]) {
      assert.equal((await call('GET', bad)).status, 404, bad);
    }
    assert.equal((await upload(`/alice/main/data/${'Z'.repeat(64)}`, Buffer.from('x'))).status, 404);
  });

  it('undecodable percent-encoding is 400 with a short plain-text body', async () => {
    for (const bad of ['/a%zz/config', '/%C3/config', '/alice/%/config', `/alice/main/data/%g${blob.name.slice(2)}`]) {
      const reply = await call('GET', bad);
      assert.equal(reply.status, 400, bad);
      assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(reply.body.toString(), 'Bad Request\n');
    }
  });
});

describe('listings', () => {
  const blobs = [randomBlob(10), randomBlob(2000), randomBlob(300_000)];

  before(async () => {
    await call('POST', '/lists/?create=true');
    for (const b of blobs) assert.equal((await upload(`/lists/data/${b.name}`, b.data)).status, 200);
  });

  it('an empty type lists as [] (v1 and v2)', async () => {
    const v1 = await call('GET', '/lists/keys/');
    assert.equal(v1.status, 200);
    assert.deepEqual(JSON.parse(v1.body.toString()), []);
    const v2 = await call('GET', '/lists/keys/', { headers: { accept: V2 } });
    assert.equal(v2.headers['content-type'], V2);
    assert.deepEqual(JSON.parse(v2.body.toString()), []);
  });

  it('v1 (no Accept) lists names', async () => {
    const reply = await call('GET', '/lists/data/');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/vnd.x.restic.rest.v1');
    assert.deepEqual((JSON.parse(reply.body.toString()) as string[]).sort(), blobs.map((b) => b.name).sort());
  });

  it('v2 (Accept: ...rest.v2) lists names and sizes with Content-Type exactly v2', async () => {
    const reply = await call('GET', '/lists/data/', { headers: { accept: V2 } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], V2);
    const got = (JSON.parse(reply.body.toString()) as { name: string; size: number }[]).sort((a, b) => (a.name < b.name ? -1 : 1));
    const want = blobs.map((b) => ({ name: b.name, size: b.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(got, want);
  });

  it('a long listing (streamed in chunks) is complete, valid JSON', async () => {
    await call('POST', '/many/?create=true');
    const names: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const b = randomBlob(8);
      names.push(b.name);
      assert.equal((await upload(`/many/index/${b.name}`, b.data)).status, 200);
    }
    const v2 = await call('GET', '/many/index/', { headers: { accept: V2 } });
    const entries = JSON.parse(v2.body.toString()) as { name: string; size: number }[];
    assert.ok(v2.body.length > 64 * 1024, 'the reply crosses one chunk');
    assert.deepEqual(entries.map((e) => e.name).sort(), names.sort());
    assert.ok(entries.every((e) => e.size === 8));
    const v1 = JSON.parse((await call('GET', '/many/index/')).body.toString()) as string[];
    assert.deepEqual(v1.sort(), names);
  });

  it('listing a repository that does not exist is 404', async () => {
    assert.equal((await call('GET', '/nowhere/data/')).status, 404);
  });

  it('other methods on a listing are 405 with Allow: GET', async () => {
    const reply = await call('POST', '/lists/data/', { body: 'x' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'GET');
  });
});

describe('ranges', () => {
  const blob = randomBlob(1000);
  const path = `/ranged/data/${blob.name}`;
  before(async () => {
    await call('POST', '/ranged/?create=true');
    assert.equal((await upload(path, blob.data)).status, 200);
  });
  const get = (range: string) => call('GET', path, { headers: { range } });

  it('bytes=a-b is 206 with Content-Range and exactly those bytes', async () => {
    const reply = await get('bytes=100-199');
    assert.equal(reply.status, 206);
    assert.equal(reply.headers['content-range'], 'bytes 100-199/1000');
    assert.equal(reply.headers['content-length'], '100');
    assert.deepEqual(reply.body, blob.data.subarray(100, 200));
  });

  it('bytes=a- (what restic sends) is 206 to the end', async () => {
    const reply = await get('bytes=0-');
    assert.equal(reply.status, 206);
    assert.equal(reply.headers['content-range'], 'bytes 0-999/1000');
    assert.deepEqual(reply.body, blob.data);
    const tail = await get('bytes=990-');
    assert.deepEqual(tail.body, blob.data.subarray(990));
  });

  it('bytes=-n is the last n bytes; an end past the file is clamped', async () => {
    const suffix = await get('bytes=-10');
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers['content-range'], 'bytes 990-999/1000');
    assert.deepEqual(suffix.body, blob.data.subarray(990));
    const clamped = await get('bytes=500-5000');
    assert.equal(clamped.headers['content-range'], 'bytes 500-999/1000');
    assert.deepEqual(clamped.body, blob.data.subarray(500));
  });

  it('an unsatisfiable range is 416 with Content-Range: bytes */size', async () => {
    const reply = await get('bytes=1000-');
    assert.equal(reply.status, 416);
    assert.equal(reply.headers['content-range'], 'bytes */1000');
  });

  it('a malformed range is 416 (as Go http.ServeContent)', async () => {
    assert.equal((await get('bytes=abc')).status, 416);
    assert.equal((await get('pages=1-2')).status, 416);
  });

  it('several ranges are answered whole with 200', async () => {
    const reply = await get('bytes=0-9,20-29');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, blob.data);
  });

  it('a range on a missing file is 404', async () => {
    assert.equal((await call('GET', `/ranged/data/${'0'.repeat(64)}`, { headers: { range: 'bytes=0-' } })).status, 404);
  });
});

describe('large reads at once (read buffers are used again once sent)', () => {
  const blobs = Array.from({ length: 4 }, (_, i) => randomBlob(8 * 1024 * 1024 + 1000 * i + 7));
  before(async () => {
    await call('POST', '/many/?create=true');
    for (const blob of blobs) assert.equal((await upload(`/many/data/${blob.name}`, blob.data)).status, 200);
  });

  it('every client gets its own bytes, whole or ranged, while others hang up midway', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    const port = Number(new URL(server.url).port);
    // A client that reads the first bytes of a file and goes away.
    const hangUp = (name: string) =>
      new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/many/data/${name}` }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
      });
    // A client that reads slowly: the server's socket backs up, its chunks wait in Node.
    const slowRead = (name: string) =>
      new Promise<Buffer>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: `/many/data/${name}` }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (part: Buffer) => {
            parts.push(part);
            res.pause();
            setTimeout(() => res.resume(), 2);
          });
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        }).on('error', reject);
      });
    const jobs: Promise<void>[] = [];
    for (let round = 0; round < 4; round++) {
      blobs.forEach((blob, i) => {
        const start = (round * 131_071 + i * 7) % blob.data.length;
        jobs.push(hangUp(blob.name));
        jobs.push(slowRead(blob.name).then((body) => assert.ok(body.equals(blob.data), `slow ${i} round ${round}`)));
        jobs.push(
          request(server.url, `/many/data/${blob.name}`, { agent }).then((reply) => {
            assert.equal(reply.status, 200);
            assert.ok(reply.body.equals(blob.data), `whole ${i} round ${round}`);
          }),
        );
        jobs.push(
          request(server.url, `/many/data/${blob.name}`, { agent, headers: { range: `bytes=${start}-` } }).then((reply) => {
            assert.equal(reply.status, 206);
            assert.ok(reply.body.equals(blob.data.subarray(start)), `range ${i} round ${round}`);
          }),
        );
      });
    }
    await Promise.all(jobs);
    agent.destroy();
  });
});
