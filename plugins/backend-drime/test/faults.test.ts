/** Retries (429 honoured, bounded), dropped connections, incomplete uploads, streamed uploads that cannot be retried. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { StorageErrorCode, storageCodeOf } from '@pyrestserver/core';
import { blobIn, listAll, randomBlob, readAll, write } from './support/blobs.js';
import { startHarness, type Harness } from './support/setup.js';

const MiB = 1024 * 1024;
let h: Harness;
afterEach(() => h?.close());

const code = (expected: string) => (err: unknown) => {
  assert.equal(storageCodeOf(err), expected, String(err));
  return true;
};

describe('retries', () => {
  it('honours an integer Retry-After on 429', async () => {
    h = await startHarness();
    h.emulator.inject('createFolder', { kind: 'status', status: 429, retryAfter: 3 });
    h.emulator.inject('createFolder', { kind: 'status', status: 429, retryAfter: 1 });
    await h.provider.createRepository('r');
    assert.deepEqual(h.delays.slice(0, 2), [3000, 1000]);
    assert.equal(h.emulator.find('r').length, 1);
  });

  it('caps a huge Retry-After (at max(retry_max_delay, 60 s)), for the retry and for the calls that follow', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    h.emulator.inject('upload', { kind: 'status', status: 429, retryAfter: 86_400 });
    const blob = randomBlob(100);
    await write(h.provider, blob.ref('r', 'keys'), blob.data);
    assert.deepEqual(h.delays, [60_000]);
    const next = randomBlob(100);
    await write(h.provider, next.ref('r', 'keys'), next.data);
    assert.deepEqual(h.delays, [60_000], 'a later call waited again');
  });

  it('backs off exponentially (with jitter) on 5xx and gives up with BACKEND_UNAVAILABLE', async () => {
    h = await startHarness({ provider: { max_retries: 4, retry_delay: 100 } });
    h.emulator.inject('list', { kind: 'status', status: 503 }, 50);
    await assert.rejects(h.provider.repositoryExists('r'), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(h.emulator.counts.list, 5, 'one attempt plus max_retries');
    assert.equal(h.delays.length, 4);
    h.delays.forEach((d, i) => assert.ok(d >= 0 && d <= 100 * 2 ** i, `delay ${i} = ${d}`));
  });

  it('retries dropped connections, before and during the reply', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const key = randomBlob(10);
    await write(h.provider, key.ref('r', 'keys'), key.data);
    h.emulator.resetCounts();
    h.emulator.inject('list', { kind: 'drop-request' });
    h.emulator.inject('list', { kind: 'drop-response' });
    assert.deepEqual(await listAll(h.provider, 'r', 'keys'), [{ name: key.name, size: 10 }]);
    assert.equal(h.emulator.counts.list, 3);
  });

  it('a 401 at run time is not retried', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    h.emulator.inject('upload', { kind: 'status', status: 401 });
    const blob = randomBlob(10);
    await assert.rejects(write(h.provider, blob.ref('r'), blob.data), /rejected the API key/);
    assert.equal(h.emulator.counts.upload, 1);
  });
});

describe('uploads under faults', () => {
  it('an upload whose reply was lost leaves one entry, not two', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blob = randomBlob(1000);
    h.emulator.inject('upload', { kind: 'drop-response' });
    await write(h.provider, blob.ref('r', 'index'), blob.data);
    const entries = h.emulator.find(`r/index/${blob.name}`);
    assert.equal(entries.length, 1);
    assert.deepEqual(h.emulator.content(entries[0]!.id), blob.data);
    assert.equal(h.emulator.counts.upload, 2);
  });

  it('incomplete uploads are deleted and sent again', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blob = randomBlob(5000);
    h.emulator.inject('upload', { kind: 'incomplete' });
    h.emulator.inject('upload', { kind: 'incomplete', wrongSize: true });
    await write(h.provider, blob.ref('r'), blob.data);
    const entries = h.emulator.find(`r/data/${blob.name.slice(0, 2)}/${blob.name}`);
    assert.equal(entries.length, 1);
    assert.deepEqual(h.emulator.content(entries[0]!.id), blob.data);
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
  });

  it('a streamed upload that fails mid-way answers BACKEND_UNAVAILABLE, leaves nothing, and a retry succeeds', async () => {
    h = await startHarness({ provider: { upload_buffer_size: 64 * 1024 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(2 * MiB);
    h.emulator.inject('upload', { kind: 'drop-response' });
    await assert.rejects(write(h.provider, blob.ref('r'), blob.data), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(h.emulator.counts.upload, 1, 'a consumed stream was sent again');
    assert.equal(h.emulator.find(`r/data/${blob.name.slice(0, 2)}/${blob.name}`).length, 0, 'entry of the failed upload left');
    await assert.rejects(h.provider.stat(blob.ref('r')), code(StorageErrorCode.NOT_FOUND));
    // What restic does next: DELETE, then the same upload again.
    await h.provider.delete(blob.ref('r'));
    await write(h.provider, blob.ref('r'), blob.data);
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
  });

  it("a failed upload whose clean-up failed too: restic's DELETE removes what it left, the retry leaves one entry", async () => {
    h = await startHarness({ provider: { upload_buffer_size: 64 * 1024, max_retries: 1 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(2 * MiB);
    const path = `r/data/${blob.name.slice(0, 2)}/${blob.name}`;
    const neighbour = blobIn(blob.name.slice(0, 2)); // its folder exists: no listing before the upload
    await write(h.provider, neighbour.ref('r'), neighbour.data);
    // Stored, but the reply is lost; then Drime answers 503 to the listings of the clean-up.
    h.emulator.inject('upload', { kind: 'drop-response' });
    h.emulator.inject('list', { kind: 'status', status: 503 }, 4);
    await assert.rejects(write(h.provider, blob.ref('r'), blob.data), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    h.emulator.clearFaults();
    assert.equal(h.emulator.find(path).length, 1, 'the test needs a stray entry');
    // What restic does next: DELETE, then the same upload again.
    await h.provider.delete(blob.ref('r'));
    assert.equal(h.emulator.find(path).length, 0, 'DELETE left the stray entry');
    await write(h.provider, blob.ref('r'), blob.data);
    assert.equal(h.emulator.find(path).length, 1);
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
  });

  it('a connection dropped mid-upload: a buffered body is sent again, a streamed one answers 503', async () => {
    h = await startHarness({ provider: { upload_buffer_size: 512 * 1024 } });
    await h.provider.createRepository('r');
    const small = randomBlob(400 * 1024);
    h.emulator.inject('upload', { kind: 'drop-request', afterBytes: 100_000 });
    await write(h.provider, small.ref('r'), small.data);
    assert.deepEqual(await readAll(h.provider, small.ref('r')), small.data);
    const big = randomBlob(3 * MiB);
    h.emulator.inject('upload', { kind: 'drop-request', afterBytes: MiB });
    await assert.rejects(write(h.provider, big.ref('r'), big.data), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(h.emulator.entries().filter((e) => e.name === big.name).length, 0);
    assert.deepEqual(await listAll(h.provider, 'r', 'data'), [{ name: small.name, size: small.data.length }]);
  });

  it('a streamed upload refused before its body was read is retried', async () => {
    h = await startHarness({ provider: { upload_buffer_size: 0 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(300 * 1024);
    const body = new PassThrough();
    h.emulator.inject('upload', { kind: 'drop-request' });
    const writing = h.provider.write(blob.ref('r'), body, blob.data.length);
    // Hold the body back until the first attempt has failed.
    while (h.emulator.counts.upload < 1) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    body.end(blob.data);
    await writing;
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
  });

  it('multipart uploads stream their parts and assemble them', async () => {
    h = await startHarness({ provider: { multipart_threshold: 5 * MiB, part_size: 5 * MiB } });
    await h.provider.createRepository('r');
    const blob = randomBlob(12 * MiB + 3);
    await write(h.provider, blob.ref('r'), blob.data);
    assert.equal(h.emulator.counts.putPart, 3);
    assert.equal(h.emulator.counts.upload, 0);
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
    assert.deepEqual(await readAll(h.provider, blob.ref('r'), { start: 5 * MiB - 2, end: 5 * MiB + 2 }), blob.data.subarray(5 * MiB - 2, 5 * MiB + 3));
  });

  it('a failed multipart part aborts the upload and stores nothing', async () => {
    h = await startHarness({ provider: { multipart_threshold: 5 * MiB, part_size: 5 * MiB } });
    await h.provider.createRepository('r');
    const blob = randomBlob(11 * MiB);
    h.emulator.inject('multipartCreate', { kind: 'status', status: 429 });
    h.emulator.inject('signParts', { kind: 'status', status: 500 });
    await write(h.provider, blob.ref('r'), blob.data);
    assert.equal(h.emulator.counts.multipartCreate, 2);
    const other = randomBlob(11 * MiB);
    h.emulator.resetCounts();
    h.emulator.inject('putPart', { kind: 'drop-response' }); // stored, but the reply is lost: not retriable
    await assert.rejects(write(h.provider, other.ref('r'), other.data), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(h.emulator.counts.multipartAbort, 1);
    assert.deepEqual(await listAll(h.provider, 'r', 'data'), [{ name: blob.name, size: blob.data.length }]);
  });

  it('a client that goes away mid-upload leaves nothing', async () => {
    h = await startHarness({ provider: { upload_buffer_size: 0 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(256 * 1024);
    const body = new PassThrough();
    const writing = h.provider.write(blob.ref('r', 'snapshots'), body, blob.data.length);
    body.write(blob.data.subarray(0, 100_000));
    const gone = new Error('client went away');
    setTimeout(() => body.destroy(gone), 30);
    await assert.rejects(writing, (err) => err === gone);
    assert.deepEqual(await listAll(h.provider, 'r', 'snapshots'), []);
    assert.equal(h.emulator.entries().filter((e) => e.name === blob.name).length, 0);
  });
});

describe('downloads', () => {
  for (const honourRange of [true, false]) {
    it(`serves exact ranges when Drime ${honourRange ? 'honours' : 'ignores'} Range`, async () => {
      h = await startHarness({ emulator: { honourRange } });
      await h.provider.createRepository('r');
      const blob = randomBlob(300_000);
      await write(h.provider, blob.ref('r'), blob.data);
      for (const [start, end] of [[0, 0], [1, 99_999], [123_456, 299_999], [299_999, 299_999]] as const) {
        assert.deepEqual(await readAll(h.provider, blob.ref('r'), { start, end }), blob.data.subarray(start, end + 1), `${start}-${end}`);
      }
    });
  }

  it('follows the redirect to the storage host (another origin) without the API key, for reads, resumes and parts', async () => {
    h = await startHarness({ provider: { multipart_threshold: 5 * MiB, part_size: 5 * MiB } });
    await h.provider.createRepository('r');
    const blob = randomBlob(6 * MiB);
    await write(h.provider, blob.ref('r'), blob.data);
    h.emulator.inject('storageGet', { kind: 'drop-response' });
    assert.deepEqual(await readAll(h.provider, blob.ref('r'), { start: 1, end: 6 * MiB - 2 }), blob.data.subarray(1, 6 * MiB - 1));
    assert.ok(new URL(h.emulator.storageOrigin).origin !== new URL(h.emulator.url).origin);
    assert.equal(h.emulator.counts.putPart, 2);
    assert.equal(h.emulator.counts.storageGet, 2);
    assert.equal(h.emulator.storageAuthorizations, 0, 'the API key went to the storage host');
  });

  it('works without the redirect, and never sends the key to the storage host', async () => {
    h = await startHarness({ emulator: { redirectDownloads: false } });
    await h.provider.createRepository('r');
    const blob = randomBlob(1000);
    await write(h.provider, blob.ref('r'), blob.data);
    assert.deepEqual(await readAll(h.provider, blob.ref('r')), blob.data);
    assert.equal(h.emulator.counts.storageGet, 0);
  });

  it('resumes a download that breaks off mid-body', async () => {
    for (const honourRange of [true, false]) {
      h = await startHarness({ emulator: { honourRange } });
      await h.provider.createRepository('r');
      const blob = randomBlob(400_000);
      await write(h.provider, blob.ref('r'), blob.data);
      h.emulator.inject('storageGet', { kind: 'drop-response' });
      assert.deepEqual(await readAll(h.provider, blob.ref('r'), { start: 10, end: 399_990 }), blob.data.subarray(10, 399_991));
      assert.equal(h.emulator.counts.storageGet, 2);
      await h.close();
    }
  });

  it('a download that keeps breaking off errors, it does not end early', async () => {
    h = await startHarness({ provider: { max_retries: 2 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(200_000);
    await write(h.provider, blob.ref('r'), blob.data);
    h.emulator.inject('storageGet', { kind: 'drop-response' }, 10);
    await assert.rejects(readAll(h.provider, blob.ref('r')), code(StorageErrorCode.BACKEND_UNAVAILABLE));
  });

  it('a file deleted behind our back reads as NOT_FOUND', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blob = randomBlob(100);
    await write(h.provider, blob.ref('r'), blob.data);
    h.emulator.find(`r/data/${blob.name.slice(0, 2)}/${blob.name}`).forEach((e) => (e.deleted_at = new Date().toISOString()));
    await assert.rejects(h.provider.read(blob.ref('r')), code(StorageErrorCode.NOT_FOUND));
    await assert.rejects(h.provider.stat(blob.ref('r')), code(StorageErrorCode.NOT_FOUND));
  });
});

describe('rate limits', () => {
  it('after a 429, new calls wait out its Retry-After before going out', async () => {
    h = await startHarness({ provider: { max_retries: 0 } });
    await h.provider.createRepository('r');
    h.emulator.resetCounts();
    h.emulator.inject('upload', { kind: 'status', status: 429, retryAfter: 2 });
    const first = randomBlob(100);
    await assert.rejects(write(h.provider, first.ref('r', 'keys'), first.data), code(StorageErrorCode.BACKEND_UNAVAILABLE));
    // No retry was allowed; the clean-up listing after the failure is a new call: it waited.
    assert.equal(h.delays.length, 1, `waits: ${h.delays}`);
    assert.ok(h.delays[0]! > 1000 && h.delays[0]! <= 2000, `held ${h.delays[0]} ms`);
    assert.equal(h.emulator.counts.list, 1, 'the clean-up listing');
    // The hold is over: the next call goes at once.
    const second = randomBlob(100);
    await write(h.provider, second.ref('r', 'keys'), second.data);
    assert.equal(h.delays.length, 1);
  });
});
