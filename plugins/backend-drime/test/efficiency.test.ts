/** API calls per operation (what restic's workload costs) and connection pooling. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createDrimeProvider, type DrimeProvider } from '../src/index.js';
import { blobIn, randomBlob, readAll, write } from './support/blobs.js';
import { capturingLogger, nonZero, startHarness, type Harness } from './support/setup.js';

let h: Harness;
afterEach(() => h?.close());

describe('API calls', () => {
  it('a new repository: one call per folder, the root listed before and after, the repository after its folders', async () => {
    h = await startHarness();
    h.emulator.resetCounts();
    await h.provider.createRepository('r');
    const { list, ...others } = nonZero(h.emulator.counts);
    assert.deepEqual(others, { createFolder: 6 });
    // The five type folders are created at once; their check listings of r are shared when they overlap.
    assert.ok(list! >= 3 && list! <= 7, `${list} listings`);
  });

  it('writing N new files costs N uploads plus, per new data shard, its folder and one listing of data/', async () => {
    h = await startHarness({ emulator: { pageSize: 1000 } });
    await h.provider.createRepository('r');
    h.emulator.resetCounts();
    const blobs = [...Array.from({ length: 20 }, () => blobIn('e')), ...Array.from({ length: 10 }, () => randomBlob(200))];
    const shards = new Set(blobs.map((b) => b.name.slice(0, 2)));
    for (const b of blobs) await write(h.provider, b.ref('r'), b.data);
    const snapshot = randomBlob(300);
    await write(h.provider, snapshot.ref('r', 'snapshots'), snapshot.data);
    assert.deepEqual(nonZero(h.emulator.counts), { upload: 31, createFolder: shards.size, list: shards.size });
  });

  it('stat and read after our own writes cost no listing; a read is one download', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 10 }, () => randomBlob(1000));
    for (const b of blobs) await write(h.provider, b.ref('r'), b.data);
    h.emulator.resetCounts();
    for (const b of blobs) {
      assert.deepEqual(await h.provider.stat(b.ref('r')), { size: 1000 });
      assert.deepEqual(await readAll(h.provider, b.ref('r'), { start: 10, end: 20 }), b.data.subarray(10, 21));
    }
    assert.deepEqual(nonZero(h.emulator.counts), { download: 10, storageGet: 10 });
  });

  it('after a restart, each folder is listed once, however many files are looked up', async () => {
    h = await startHarness({ emulator: { pageSize: 50 } });
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 40 }, () => blobIn('7'));
    for (const b of blobs) await write(h.provider, b.ref('r'), b.data);
    await afterRestart(async (restarted) => {
      for (const b of blobs) await restarted.stat(b.ref('r'));
    });
    // The root listing answers entries from everywhere (all pages); then r, r/data, each r/data/7x once.
    const rootPages = Math.ceil(h.emulator.entries().length / 50);
    const shards = new Set(blobs.map((b) => b.name.slice(0, 2))).size;
    assert.deepEqual(nonZero(h.emulator.counts), { list: rootPages + 2 + shards });
  });

  it('concurrent lookups in a folder not listed yet share one listing', async () => {
    h = await startHarness({ emulator: { pageSize: 50 } });
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 20 }, () => blobIn('3c'));
    for (const b of blobs) await write(h.provider, b.ref('r'), b.data);
    await afterRestart((restarted) => Promise.all(blobs.map((b) => restarted.stat(b.ref('r')))));
    assert.deepEqual(nonZero(h.emulator.counts), { list: 4 }, 'root, r, r/data, r/data/3c');
  });

  it('deleting a file is one call', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blob = randomBlob(10);
    await write(h.provider, blob.ref('r', 'locks'), blob.data);
    h.emulator.resetCounts();
    await h.provider.delete(blob.ref('r', 'locks'));
    assert.deepEqual(nonZero(h.emulator.counts), { delete: 1 });
  });
});

describe('connection pooling', () => {
  it('reuses at most max_connections keep-alive connections', async () => {
    h = await startHarness({ provider: { max_connections: 3 } });
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 60 }, () => randomBlob(2000));
    await Promise.all(blobs.map((b) => write(h.provider, b.ref('r'), b.data)));
    await Promise.all(blobs.map((b) => readAll(h.provider, b.ref('r'))));
    assert.ok(h.emulator.totalCalls > 150);
    assert.ok(h.emulator.connections <= 3, `${h.emulator.connections} connections to the API`);
  });
});

/** Run `fn` on a second provider over the same emulator (a server restart), counting from zero. */
async function afterRestart(fn: (restarted: DrimeProvider) => Promise<unknown>): Promise<void> {
  const restarted = await createDrimeProvider({ api_key: h.emulator.apiKey, api_url: h.emulator.url }, { logger: capturingLogger([]) });
  try {
    h.emulator.resetCounts();
    await fn(restarted);
  } finally {
    await restarted.close();
  }
}
