// Hostile request paths, raw and percent-encoded, sent unnormalised over real sockets:
// none may create, read, overwrite or delete anything outside the data directory, nor
// reach dot-files (.htpasswd) or temporary files inside it.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBlob } from './support/data.js';
import { rawRequest, request } from './support/http.js';
import { startServer, type TestServer } from './support/server.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree } from './support/tree.js';

const SECRET = 'outside-secret-content';
const NAME = randomBlob(10).name;

let root: string;
let server: TestServer;
let before_: { root: string[]; outside: Map<string, string>; data: Map<string, string> };

before(async () => {
  // root/outside/...  (must stay untouched)   root/data/  (the server's --path)
  root = await tempDir('pyrs-paths-');
  const outside = join(root, 'outside');
  await mkdir(join(outside, 'keys'), { recursive: true });
  await writeFile(join(outside, 'config'), SECRET);
  await writeFile(join(outside, 'keys', NAME), SECRET);
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  await writeFile(join(dataDir, '.htpasswd'), `user:${SECRET}\n`);
  server = await startServer({ dir: dataDir });
  assert.equal((await request(server.url, '/r/?create=true', { method: 'POST' })).status, 200);
  assert.equal((await request(server.url, '/r/config', { method: 'POST', body: 'cfg' })).status, 200);
  before_ = await snapshot();
});

after(async () => {
  await server.close();
  await removeDir(root);
});

async function snapshot() {
  return {
    root: (await readdir(root)).sort(),
    outside: await hashTree(join(root, 'outside')),
    data: await hashTree(join(root, 'data')),
  };
}

/** Paths that try to leave the data directory or reach hidden files, for a config route. */
const TRAVERSALS = [
  '/../outside/config',
  '/r/../../outside/config',
  '/./outside/config',
  '/%2e%2e/outside/config',
  '/%2E%2E/outside/config',
  '/.%2e/outside/config',
  '/%2e%2e%2foutside/config',
  '/..%2foutside/config',
  '/r%2f..%2f..%2foutside/config',
  '/%252e%252e/outside/config',
  '/%252e%252e%252foutside/config',
  '/..%5coutside/config',
  '/r/..%5c..%5coutside/config',
  '/..\\outside/config',
  '//outside/config',
  '/r//config',
  '/.htpasswd/config',
  '/r/.tmp/config',
  '/%2ehtpasswd/config',
  '/r%00/config',
  '/r%2500/config',
];

const REFUSED = new Set([400, 404]);

describe('hostile paths', () => {
  it('GET/HEAD/DELETE/POST of config through traversals are refused (400/404)', async () => {
    for (const path of TRAVERSALS) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const reply = await request(server.url, path, { method });
        assert.ok(REFUSED.has(reply.status), `${method} ${path}: ${reply.status}`);
        assert.ok(!reply.body.toString().includes(SECRET), `${method} ${path} leaked`);
      }
      const post = await request(server.url, path, { method: 'POST', body: 'evil' });
      assert.ok(REFUSED.has(post.status), `POST ${path}: ${post.status}`);
    }
  });

  it('blob routes and listings through traversals are refused', async () => {
    for (const prefix of ['/..', '/%2e%2e', '/r/../..', '/..%2f..', '/%252e%252e']) {
      for (const [method, path] of [
        ['GET', `${prefix}/outside/keys/${NAME}`],
        ['DELETE', `${prefix}/outside/keys/${NAME}`],
        ['GET', `${prefix}/outside/keys/`],
        ['POST', `${prefix}/outside/?create=true`],
        ['POST', `${prefix}/evil/?create=true`],
      ] as const) {
        const reply = await request(server.url, path, { method });
        assert.ok(REFUSED.has(reply.status), `${method} ${path}: ${reply.status}`);
        assert.ok(!reply.body.toString().includes(NAME), `${method} ${path} listed outside files`);
      }
    }
  });

  it('raw bytes http clients refuse to send (NUL, backslash, control characters) are refused', async () => {
    for (const path of ['/r\x00/config', '/r\x00/../../outside/config', '/r/..\\..\\outside/config', '/r\x01/config', '/r\t/config']) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const { status } = await rawRequest(server.port, `${method} ${path} HTTP/1.1\r\nContent-Length: 0`);
        assert.ok(REFUSED.has(status), `${method} ${JSON.stringify(path)}: ${status}`);
      }
    }
  });

  it('the dot-file in the data directory cannot be read as a repository file', async () => {
    for (const path of ['/.htpasswd', '/%2ehtpasswd', '/.htpasswd/', '/r/../.htpasswd']) {
      const reply = await request(server.url, path);
      assert.equal(reply.status, 404, path);
      assert.ok(!reply.body.toString().includes(SECRET));
    }
  });

  it('very long paths are refused (404), never a server error', async () => {
    const deep = '/' + Array.from({ length: 16 }, (_, i) => String(i % 10).repeat(255)).join('/');
    const wide = `/${encodeURIComponent('\u00e9'.repeat(200))}`; // 200 characters, 400 bytes: over NAME_MAX
    for (const repo of [deep, wide]) {
      for (const [method, path] of [
        ['POST', `${repo}/?create=true`],
        ['GET', `${repo}/config`],
        ['HEAD', `${repo}/config`],
        ['POST', `${repo}/config`],
        ['DELETE', `${repo}/config`],
        ['GET', `${repo}/keys/`],
        ['GET', `${repo}/data/${NAME}`],
      ] as const) {
        const reply = await request(server.url, path, { method, ...(method === 'POST' ? { body: 'x' } : {}) });
        assert.equal(reply.status, 404, `${method} ${path.slice(0, 40)}...: ${reply.status}`);
      }
    }
  });

  it('nothing was created, changed or removed, inside or outside the data directory', async () => {
    assert.deepEqual(await snapshot(), before_);
  });

  it('the legitimate repository still works', async () => {
    const reply = await request(server.url, '/r/config');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'cfg');
  });
});
