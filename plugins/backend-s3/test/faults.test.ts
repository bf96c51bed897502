/**
 * Failures: what a failed upload leaves in the real bucket (nothing, no open multipart
 * upload), and how store errors become statuses restic understands (retries for
 * throttling and 5xx, then 503; 507 for quota), injected by a proxy in front of RGW.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StorageErrorCode, type StorageProvider } from '@pyrestserver/core';
import { bodyOf, failingAtEnd, randomBlob, readAll } from './support/blobs.js';
import { CountingProxy } from './support/counting-proxy.js';
import { allKeys, openUploads, s3Env } from './support/rgw.js';
import { startHarness } from './support/setup.js';

const MiB = 1024 * 1024;
const hasCode = (code: string) => (err: unknown) => {
  assert.equal((err as { code?: string }).code, code, String((err as Error).message));
  return true;
};

describe('failed uploads leave nothing in the bucket', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  let p: StorageProvider;
  before(async () => {
    h = await startHarness('fail', { part_size: 5 * MiB });
    p = h.provider;
    await p.createRepository('r');
  });
  after(() => h?.close());

  const onlyMarker = async () => assert.deepEqual(await allKeys(h.client, h.bucket, 'r/data/'), []);

  for (const size of [300_000, 12 * MiB]) {
    it(`a body failing after its last byte (a digest mismatch) stores nothing: ${size} bytes (${size > 5 * MiB ? 'multipart' : 'one PUT'})`, async () => {
      const blob = randomBlob(size);
      const boom = Object.assign(new Error('SHA-256 of the body does not match the file name'), { code: 'PYRS_DIGEST_MISMATCH' });
      await assert.rejects(p.write(blob.ref('r'), failingAtEnd(blob.data, boom), size), (err) => err === boom);
      await onlyMarker();
      assert.deepEqual(await openUploads(h.client, h.bucket), [], 'multipart upload left open');
      await p.write(blob.ref('r'), bodyOf(blob.data), size);
      assert.deepEqual(await readAll(p, blob.ref('r')), blob.data);
      await p.delete(blob.ref('r'));
    });
  }

  it('a multipart body ending early (in its second part) is INCOMPLETE_BODY and aborted', async () => {
    const blob = randomBlob(12 * MiB);
    await assert.rejects(p.write(blob.ref('r'), bodyOf(blob.data.subarray(0, 7 * MiB)), blob.data.length), hasCode(StorageErrorCode.INCOMPLETE_BODY));
    await onlyMarker();
    assert.deepEqual(await openUploads(h.client, h.bucket), []);
  });

  it('a refused duplicate is answered before its body is read, the body left undestroyed (core drains it), the file untouched', async () => {
    const blob = randomBlob(50_000);
    await p.write(blob.ref('r', 'keys'), bodyOf(blob.data), blob.data.length);
    // A body that never ends: RGW answers 412 on If-None-Match before reading it.
    const body = new PassThrough();
    body.write(randomBlob(64 * 1024).data);
    await assert.rejects(p.write(blob.ref('r', 'keys'), body, 10 * MiB), hasCode(StorageErrorCode.ALREADY_EXISTS));
    assert.equal(body.destroyed, false, 'the provider destroyed the request body');
    assert.deepEqual(await readAll(p, blob.ref('r', 'keys')), blob.data);
  });

  it('with conditional_writes off, a HEAD keeps uploads exclusive', async () => {
    const h2 = await startHarness('nocond', { conditional_writes: false });
    try {
      await h2.provider.createRepository('r');
      const blob = randomBlob(1000);
      await h2.provider.write(blob.ref('r'), bodyOf(blob.data), 1000);
      await assert.rejects(h2.provider.write(blob.ref('r'), bodyOf(randomBlob(1000).data), 1000), hasCode(StorageErrorCode.ALREADY_EXISTS));
      assert.deepEqual(await readAll(h2.provider, blob.ref('r')), blob.data);
    } finally {
      await h2.close();
    }
  });
});

describe('store errors become statuses restic understands', () => {
  let proxy: CountingProxy;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let p: StorageProvider;
  before(async () => {
    proxy = await CountingProxy.start(s3Env().endpoint);
    h = await startHarness('err', { endpoint: proxy.url, max_retries: 3 });
    p = h.provider;
    await p.createRepository('r');
  });
  after(async () => {
    await h?.close();
    await proxy?.close();
  });

  it('throttling and 5xx are retried with backoff, and the read succeeds', async () => {
    const blob = randomBlob(5000);
    await p.write(blob.ref('r'), bodyOf(blob.data), 5000);
    proxy.reset();
    proxy.fail('GetObject', 503, 'SlowDown', 1);
    proxy.fail('GetObject', 500, 'InternalError', 1);
    proxy.fail('GetObject', 429, 'TooManyRequests', 1);
    assert.deepEqual(await readAll(p, blob.ref('r')), blob.data);
    assert.equal(proxy.counts.GetObject, 4);
    proxy.fail('ListObjectsV2', 503, 'SlowDown', 2);
    const listed = [];
    for await (const f of p.list('r', 'data')) listed.push(f.name);
    assert.deepEqual(listed, [blob.name]);
  });

  it('a store that keeps failing is BACKEND_UNAVAILABLE (503) after max_retries, for reads, lists and deletes', async () => {
    const blob = randomBlob(10);
    proxy.reset();
    proxy.fail('HeadObject', 503, 'SlowDown', 100);
    await assert.rejects(p.stat(blob.ref('r')), hasCode(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(proxy.counts.HeadObject, 4, 'one try and three retries');
    proxy.reset();
    proxy.fail('ListObjectsV2', 500, 'InternalError', 100);
    await assert.rejects((async () => { for await (const _ of p.list('r', 'keys')) void _; })(), hasCode(StorageErrorCode.BACKEND_UNAVAILABLE));
    proxy.reset();
    proxy.fail('DeleteObject', 502, 'BadGateway', 100);
    await assert.rejects(p.delete(blob.ref('r')), hasCode(StorageErrorCode.BACKEND_UNAVAILABLE));
    proxy.reset();
  });

  it('a streamed upload (over 64 KiB) the store throttles is 503 at once (restic retries it), and nothing is stored', async () => {
    const blob = randomBlob(200_000);
    proxy.reset();
    proxy.fail('PutObject', 503, 'SlowDown', 1);
    await assert.rejects(p.write(blob.ref('r'), bodyOf(blob.data), 200_000), hasCode(StorageErrorCode.BACKEND_UNAVAILABLE));
    assert.equal(proxy.counts.PutObject, 1, 'a streamed body is not retried by the provider');
    await p.write(blob.ref('r'), bodyOf(blob.data), 200_000);
    assert.deepEqual(await readAll(p, blob.ref('r')), blob.data);
  });

  it('a small upload (held in memory) is retried after throttling and stored', async () => {
    const blob = randomBlob(20_000);
    proxy.reset();
    proxy.fail('PutObject', 503, 'SlowDown', 1);
    await p.write(blob.ref('r'), bodyOf(blob.data), 20_000);
    assert.equal(proxy.counts.PutObject, 2);
    assert.deepEqual(await readAll(p, blob.ref('r')), blob.data);
  });

  it('a small upload whose reply was lost: the retry meets 412, finds its own bytes, and succeeds', async () => {
    const blob = randomBlob(30_000);
    proxy.reset();
    proxy.dropReply('PutObject', 1);
    await p.write(blob.ref('r', 'snapshots'), bodyOf(blob.data), 30_000);
    assert.equal(proxy.counts.PutObject, 2, 'the lost reply was retried');
    assert.deepEqual(await readAll(p, blob.ref('r', 'snapshots')), blob.data);
    // A real duplicate (no retry) is still refused.
    await assert.rejects(p.write(blob.ref('r', 'snapshots'), bodyOf(blob.data), 30_000), hasCode(StorageErrorCode.ALREADY_EXISTS));
  });

  it('a store refusing for space (QuotaExceeded) is INSUFFICIENT_STORAGE (507)', async () => {
    const blob = randomBlob(20_000);
    proxy.reset();
    proxy.fail('PutObject', 403, 'QuotaExceeded', 1);
    await assert.rejects(p.write(blob.ref('r'), bodyOf(blob.data), 20_000), hasCode(StorageErrorCode.INSUFFICIENT_STORAGE));
  });

  it('access denied at run time is a 500 naming the file, and no message carries the secret key', async () => {
    const blob = randomBlob(10);
    proxy.reset();
    proxy.fail('GetObject', 403, 'AccessDenied', 1);
    await assert.rejects(p.read(blob.ref('r')), (err: Error & { code?: string }) => {
      assert.equal(err.code, StorageErrorCode.INTERNAL);
      assert.match(err.message, new RegExp(`GET r/data/${blob.name}: AccessDenied \\(HTTP 403\\)`));
      assert.ok(!`${err.message}${err.stack}`.includes(h.env.secretAccessKey));
      return true;
    });
    proxy.fail('HeadObject', 403, 'AccessDenied', 1);
    await assert.rejects(p.stat(blob.ref('r')), (err: Error & { code?: string }) => {
      assert.equal(err.code, StorageErrorCode.INTERNAL);
      assert.match(err.message, /HTTP 403/);
      return true;
    });
    assert.ok(!h.logs.join('').includes(h.env.secretAccessKey), 'secret key in the logs');
  });
});
