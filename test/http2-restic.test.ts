// HTTP/2 on the network listener (`serve --http2`): the real restic over TLS negotiates h2
// through ALPN (backup, check --read-data, restore), an HTTP/1.1 client on the same port is
// still served, and a plain listener takes h2c with prior knowledge beside HTTP/1.1.
// Which protocol served each request is read from the access log (`HTTP/2.0` or `HTTP/1.1`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { selfSignedCert } from '../core/test/security-support.js';
import { ensureBuilt, startCli, type CliServer } from './support/cli.js';
import { randomBlob } from './support/data.js';
import { request } from './support/http.js';
import { restic, type ResticResult } from './support/restic.js';
import { h2Request } from './support/stdio.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree } from './support/tree.js';

let work: string;
before(async () => {
  ensureBuilt();
  work = await tempDir('pyrs-h2-');
});
after(() => removeDir(work));

function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

/** The protocol of each access-log line: `HTTP/2.0`, `HTTP/1.1`. */
async function protocols(log: string): Promise<string[]> {
  const text = await readFile(log, 'utf8');
  return text.trim().split('\n').map((line) => /"[A-Z]+ \S+ (HTTP\/[\d.]+)"/.exec(line)?.[1] ?? `unparsed: ${line}`);
}

describe('serve --tls --http2', () => {
  let server: CliServer;
  let cert: string;
  let log: string;
  before(async () => {
    const pair = selfSignedCert(work);
    cert = pair.cert;
    log = join(work, 'tls-access.log');
    server = await startCli({ scheme: 'https', args: ['--tls', '--tls-cert', pair.cert, '--tls-key', pair.key, '--http2', '--log', log] });
  });
  after(() => server.stop());

  it('restic backs up, checks every byte and restores over h2', async () => {
    const source = join(work, 'source');
    await makeTree(source, { seed: 'h2' });
    const opts = { repo: `rest:${server.url}/h2/repo`, cacert: cert };
    ok(await restic(['init'], opts), 'init');
    ok(await restic(['backup', source], opts), 'backup');
    assert.match(ok(await restic(['check', '--read-data'], opts), 'check').stdout, /no errors were found/);
    const target = join(work, 'restore');
    ok(await restic(['restore', 'latest', '--target', target], opts), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
    const seen = await protocols(log);
    assert.ok(seen.length > 10, `${seen.length} requests logged`);
    assert.deepEqual([...new Set(seen)], ['HTTP/2.0'], 'every restic request went over h2');
  });

  it('a client that offers only http/1.1 gets HTTP/1.1 on the same port', async () => {
    const status = await new Promise<{ status: number; version: string }>((resolve, reject) => {
      const req = httpsRequest(`${server.url}/h2/repo/config`, { method: 'HEAD', ca: [readFileSync(cert, 'utf8')], agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, version: res.httpVersion });
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(status, { status: 200, version: '1.1' });
  });

  it('SIGTERM with a restic connection open: a graceful exit 0', async () => {
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null }, server.output());
  });
});

describe('serve --http2 without TLS (h2c with prior knowledge, HTTP/1.1 kept)', () => {
  let server: CliServer;
  before(async () => {
    server = await startCli({ args: ['--http2'] });
  });
  after(() => server.stop());

  it('large files read at once over h2c, slowly and fast, arrive byte for byte (read buffers are used again once sent)', async () => {
    assert.equal((await request(server.url, '/big/?create=true', { method: 'POST' })).status, 200);
    const blobs = [randomBlob(8 * 1024 * 1024 + 3), randomBlob(6 * 1024 * 1024 + 11)];
    for (const blob of blobs) {
      const stored = await request(server.url, `/big/data/${blob.name}`, { method: 'POST', body: blob.data });
      assert.equal(stored.status, 200);
    }
    const session = connect(server.url);
    // A stream that reads slowly: the session's window fills and the server's chunks wait.
    const slowRead = (path: string) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = session.request({ ':method': 'GET', ':path': path }, { endStream: true });
        const parts: Buffer[] = [];
        req.on('data', (part: Buffer) => {
          parts.push(part);
          req.pause();
          setTimeout(() => req.resume(), 2);
        });
        req.on('end', () => resolve(Buffer.concat(parts)));
        req.on('error', reject);
      });
    try {
      const jobs: Promise<void>[] = [];
      for (let round = 0; round < 3; round++) {
        for (const blob of blobs) {
          const path = `/big/data/${blob.name}`;
          jobs.push(slowRead(path).then((body) => assert.ok(body.equals(blob.data), 'slow')));
          jobs.push(h2Request(session, { ':method': 'GET', ':path': path }).then((reply) => assert.ok(reply.body.equals(blob.data), 'fast')));
        }
      }
      await Promise.all(jobs);
    } finally {
      session.close();
    }
  });

  it('restic (HTTP/1.1) and an h2c client work on the same port', async () => {
    const opts = { repo: `rest:${server.url}/plain` };
    ok(await restic(['init'], opts), 'init over HTTP/1.1');
    const session = connect(server.url);
    try {
      const config = await h2Request(session, { ':method': 'GET', ':path': '/plain/config' });
      assert.equal(config.status, 200);
      const keys = await h2Request(session, { ':method': 'GET', ':path': '/plain/keys/', accept: 'application/vnd.x.restic.rest.v2' });
      assert.equal(keys.status, 200);
      assert.equal((JSON.parse(keys.body.toString()) as unknown[]).length, 1);
    } finally {
      session.close();
    }
    const plain = await request(server.url, '/plain/config');
    assert.equal(plain.status, 200);
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null }, server.output());
  });
});
