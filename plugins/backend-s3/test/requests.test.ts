/**
 * What the provider asks of the store, counted by a proxy in front of the real RGW: one GET
 * per read (with the size), no HEAD before uploads with conditional writes, the multipart
 * checks, and a listing that answers before its last page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StorageErrorCode, type StorageProvider } from '@pyrestserver/core';
import { bodyOf, drain, randomBlob, readAll } from './support/blobs.js';
import { CountingProxy } from './support/counting-proxy.js';
import { startHarness } from './support/setup.js';
import { s3Env } from './support/rgw.js';

const MiB = 1024 * 1024;

describe('S3 requests per operation (counted at a proxy in front of RGW)', () => {
  let proxy: CountingProxy;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let p: StorageProvider;
  before(async () => {
    proxy = await CountingProxy.start(s3Env().endpoint);
    h = await startHarness('req', { endpoint: proxy.url, part_size: 5 * MiB, prefix: 'x' });
    p = h.provider;
    await p.createRepository('r');
  });
  after(async () => {
    await h?.close();
    await proxy?.close();
  });

  it('a ranged read is one GET that also gives the size; a whole read too', async () => {
    const blob = randomBlob(100_000);
    await p.write(blob.ref('r'), bodyOf(blob.data), blob.data.length);
    proxy.reset();
    const opened = await p.open!(blob.ref('r'), { start: 10, end: 99 });
    assert.equal(opened.size, 100_000);
    assert.deepEqual(await drain(opened.body), blob.data.subarray(10, 100));
    const whole = await p.open!(blob.ref('r'));
    assert.equal(whole.size, 100_000);
    assert.deepEqual(await drain(whole.body), blob.data);
    const tail = await p.open!(blob.ref('r'), { start: 99_990, end: Number.MAX_SAFE_INTEGER });
    assert.equal(tail.size, 100_000);
    assert.deepEqual(await drain(tail.body), blob.data.subarray(99_990));
    assert.deepEqual(proxy.counts, { GetObject: 3 });
  });

  it('open past the end, and of an empty file: the size and no bytes', async () => {
    const empty = randomBlob(0);
    await p.write(empty.ref('r', 'keys'), bodyOf(empty.data), 0);
    const blob = randomBlob(1000);
    await p.write(blob.ref('r', 'index'), bodyOf(blob.data), 1000);
    for (const [ref, size] of [[empty.ref('r', 'keys'), 0], [blob.ref('r', 'index'), 1000]] as const) {
      const opened = await p.open!(ref, { start: size, end: size + 10 });
      assert.equal(opened.size, size);
      assert.equal((await drain(opened.body)).length, 0);
    }
    await assert.rejects(p.open!(randomBlob(1).ref('r'), { start: 0, end: 10 }), (e: { code?: string }) => e.code === StorageErrorCode.NOT_FOUND);
  });

  it('a small upload is one PUT, a known repository costs nothing more', async () => {
    const blob = randomBlob(200_000);
    proxy.reset();
    await p.write(blob.ref('r'), bodyOf(blob.data), blob.data.length);
    assert.deepEqual(proxy.counts, { PutObject: 1 });
    assert.match(proxy.log[0]!.url, new RegExp(`/x/r/data/${blob.name.slice(0, 2)}/${blob.name}(\\?|$)`));
  });

  it('a large upload is multipart after a HEAD, with a second HEAD before completing', async () => {
    const blob = randomBlob(11 * MiB);
    proxy.reset();
    await p.write(blob.ref('r'), bodyOf(blob.data), blob.data.length);
    assert.deepEqual(proxy.counts, { HeadObject: 2, CreateMultipartUpload: 1, UploadPart: 3, CompleteMultipartUpload: 1 });
    assert.deepEqual(await readAll(p, blob.ref('r')), blob.data);
    proxy.reset();
    await assert.rejects(p.write(blob.ref('r'), bodyOf(blob.data), blob.data.length), (e: { code?: string }) => e.code === StorageErrorCode.ALREADY_EXISTS);
    assert.deepEqual(proxy.counts, { HeadObject: 1 }, 'refused before any part was sent');
  });

  it('a repository another instance created costs two HEADs once, then nothing', async () => {
    const other = await startHarness('req2', { endpoint: proxy.url, prefix: 'x' });
    try {
      // One provider creates the repository; a second one over the same bucket finds it.
      await other.provider.createRepository('shared');
      const third = await (await import('../src/index.js')).createS3Provider(
        { bucket: other.bucket, endpoint: proxy.url, prefix: 'x', access_key_id: other.env.accessKeyId, secret_access_key: other.env.secretAccessKey },
        { logger: (await import('./support/setup.js')).capturingLogger([]) },
      );
      try {
        proxy.reset();
        assert.equal(await third.repositoryExists('shared'), true);
        assert.equal(await third.repositoryExists('shared'), true);
        const blob = randomBlob(10);
        await third.write(blob.ref('shared'), bodyOf(blob.data), 10);
        assert.deepEqual(proxy.counts, { HeadObject: 2, PutObject: 1 });
      } finally {
        await third.close();
      }
    } finally {
      await other.close();
    }
  });

  it('a listing yields its first page before the next page has arrived', async () => {
    await p.createRepository('many');
    const names: string[] = [];
    for (let i = 0; i < 1100; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const blob = randomBlob(10);
          names.push(blob.name);
          await p.write(blob.ref('many', 'index'), bodyOf(blob.data), 10);
        }),
      );
    }
    proxy.reset();
    proxy.delay('ListObjectsV2', 500);
    const started = Date.now();
    const it = p.list('many', 'index')[Symbol.asyncIterator]();
    const first = await it.next();
    assert.ok(!first.done);
    assert.ok(Date.now() - started < 1000, 'the first entry waited for more than one page');
    await new Promise((ok) => setTimeout(ok, 200));
    // RGW pages hold 1000 keys: the first arrived, the second was asked for, ahead.
    assert.equal(proxy.counts.ListObjectsV2, 2, 'the next page is fetched ahead, while the first is consumed');
    let count = 1;
    for (let r = await it.next(); !r.done; r = await it.next()) count++;
    assert.equal(count, 1100);
  });
});
