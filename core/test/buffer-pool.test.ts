import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BufferPool, LARGE_BUFFER_BYTES, largeBuffers } from '../src/storage/buffer-pool.js';
import { UploadCheck } from '../src/policies/verify-upload.js';

describe('BufferPool', () => {
  it('hands out buffers of its size and uses given-back ones again', () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take();
    assert.equal(a.byteLength, 1024);
    pool.give(a);
    assert.equal(pool.freeCount, 1);
    assert.equal(pool.take(), a);
    assert.equal(pool.freeCount, 0);
  });

  it('keeps at most `keep` free buffers and none of another size', () => {
    const pool = new BufferPool(1024, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const b of taken) pool.give(b);
    assert.equal(pool.freeCount, 2);
    pool.give(new ArrayBuffer(512));
    assert.equal(pool.freeCount, 2);
    const other = new BufferPool(1024, 4);
    other.give(new ArrayBuffer(2048));
    assert.equal(other.freeCount, 0);
  });

  it('lets its free buffers go once nobody has asked for one for a while, not while in use', async () => {
    const pool = new BufferPool(1024, 4, 40);
    pool.give(pool.take());
    for (let i = 0; i < 5; i++) {
      await sleep(20);
      pool.give(pool.take()); // in use: kept
    }
    assert.equal(pool.freeCount, 1);
    await sleep(150);
    assert.equal(pool.freeCount, 0);
    // and after that it works as before
    pool.give(pool.take());
    assert.equal(pool.freeCount, 1);
  });

  it('is where the SHA-256 thread takes its slabs from and gives them back to', async () => {
    const data = randomBytes(3 * LARGE_BUFFER_BYTES + 1234);
    const name = createHash('sha256').update(data).digest('hex');
    const check = new UploadCheck(data.length, name);
    const chunks = [];
    for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
    Readable.from(chunks).pipe(check);
    let bytes = 0;
    for await (const chunk of check) bytes += (chunk as Buffer).length;
    assert.equal(bytes, data.length);
    // the worker sends every slab back; they wait in the shared pool for the next body
    for (let i = 0; i < 50 && largeBuffers.freeCount < 2; i++) await sleep(10);
    assert.ok(largeBuffers.freeCount >= 2, `free slabs in the shared pool: ${largeBuffers.freeCount}`);
  });
});
