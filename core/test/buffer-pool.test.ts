import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BufferPool } from '../src/storage/buffer-pool.js';

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
});
