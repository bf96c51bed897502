// Error replies and logging: backend failures become short status replies; 5xx are
// logged without header values or query strings; client mistakes and hang-ups are not
// logged as server errors.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StorageError, StorageErrorCode, type FileRef, type StorageProvider } from '@pyrestserver/core';
import { randomBlob } from './support/data.js';
import { request } from './support/http.js';
import { captureLogger } from './support/logger.js';
import { startServer, type TestServer } from './support/server.js';

const SECRET = 'c3VwZXItc2VjcmV0LXBhc3N3b3Jk';
// Names of 32 random bytes: a name of one byte could be drawn again by chance (1 in 256).
const FAILING = randomBlob(32).name;
const FULL = randomBlob(32).name;

/** The real local provider, failing on two names: an unexpected error, and a full disk. */
const withFaults = (local: StorageProvider): StorageProvider => ({
  createRepository: (repo) => local.createRepository(repo),
  repositoryExists: (repo) => local.repositoryExists(repo),
  read: (ref, range) => local.read(ref, range),
  list: (repo, type) => local.list(repo, type),
  delete: (ref) => local.delete(ref),
  close: async () => local.close?.(),
  async stat(ref: FileRef) {
    if (ref.name === FAILING) throw new Error(`EIO reading /srv/private/${ref.repo}/${ref.name}`);
    return local.stat(ref);
  },
  async write(ref, body, size) {
    if (ref.name === FULL) {
      body.resume();
      throw new StorageError(StorageErrorCode.INSUFFICIENT_STORAGE, 'disk full');
    }
    return local.write(ref, body, size);
  },
});

describe('errors', () => {
  const log = captureLogger();
  let server: TestServer;

  before(async () => {
    server = await startServer({ logger: log.logger, wrapProvider: withFaults });
    assert.equal((await request(server.url, '/e/?create=true', { method: 'POST' })).status, 200);
  });
  after(() => server.close());

  const errorRecords = () => log.records.filter((r) => r.level === 'error' || r.level === 'fatal');

  it('an unexpected backend error is 500 with a short body, logged without secrets', async () => {
    const reply = await request(server.url, `/e/data/${FAILING}?token=${SECRET}`, {
      headers: { authorization: `Basic ${SECRET}`, cookie: `session=${SECRET}`, 'x-api-key': SECRET },
    });
    assert.equal(reply.status, 500);
    assert.equal(reply.body.toString(), 'Internal Server Error\n');
    const errors = errorRecords();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.status, 500);
    assert.match(JSON.stringify(errors[0]), /EIO reading/);
    assert.ok(!log.text().includes(SECRET), 'a secret reached the log');
  });

  it('a full disk is 507, and logged for the operator as a warning, without a stack trace', async () => {
    const warnings = () => log.records.filter((r) => r.level === 'warn');
    const [errorsBefore, warningsBefore] = [errorRecords().length, warnings().length];
    const reply = await request(server.url, `/e/data/${FULL}`, { method: 'POST', body: Buffer.alloc(5000) });
    assert.equal(reply.status, 507);
    assert.equal(reply.body.toString(), 'Insufficient Storage\n');
    assert.equal(errorRecords().length, errorsBefore, 'a full disk is not a server fault');
    const logged = warnings().slice(warningsBefore);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.status, 507);
    assert.match(JSON.stringify(logged[0]), /PYRS_INSUFFICIENT_STORAGE/);
    assert.doesNotMatch(JSON.stringify(logged[0]), /"stack"/);
  });

  it('client errors and a client hanging up mid-upload are not logged as errors', async () => {
    const before_ = errorRecords().length;
    assert.equal((await request(server.url, '/e/data/nothex')).status, 404);
    assert.equal((await request(server.url, `/e/data/${randomBlob(32).name}`)).status, 404);
    const blob = randomBlob(2 * 1024 * 1024);
    const socket = net.connect(server.port, '127.0.0.1');
    socket.write(`POST /e/data/${blob.name} HTTP/1.1\r\nHost: x\r\nContent-Length: ${blob.data.length}\r\n\r\n`);
    socket.write(blob.data.subarray(0, 512 * 1024));
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    // The next request on another connection is served after the aborted one was handled.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await request(server.url, `/e/data/${blob.name}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(errorRecords().slice(before_), []);
  });
});
