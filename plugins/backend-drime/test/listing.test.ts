/** Pagination, the root listing from everywhere, folder creation coalescing and duplicates. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { StorageErrorCode, storageCodeOf } from '@pyrestserver/core';
import { blobIn, listAll, randomBlob, readAll, write } from './support/blobs.js';
import { createDrimeProvider } from '../src/index.js';
import { capturingLogger, startHarness, type Harness } from './support/setup.js';

let h: Harness;
afterEach(() => h?.close());

/** Folders created in the emulator directly (as another client would); returns the last. */
function seedFolders(harness: Harness, path: string) {
  let parentId: number | null = null;
  let folder;
  for (const name of path.split('/')) {
    folder = harness.emulator.addEntry({ name, parentId, folder: true });
    parentId = folder.id;
  }
  return folder!;
}

describe('pagination', () => {
  it('lists every file of a type across pages, one call per page', async () => {
    h = await startHarness({ emulator: { pageSize: 5 } });
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 23 }, () => randomBlob(10));
    for (const b of blobs) await write(h.provider, b.ref('r', 'keys'), b.data);
    h.emulator.resetCounts();
    const listed = await listAll(h.provider, 'r', 'keys');
    assert.deepEqual(listed, blobs.map((b) => ({ name: b.name, size: 10 })).sort((a, b) => a.name.localeCompare(b.name)));
    assert.equal(h.emulator.counts.list, 5, '23 entries at 5 a page');
    assert.equal(h.emulator.totalCalls, 5);
  });

  it('lists data across its shard folders, each paginated', async () => {
    h = await startHarness({ emulator: { pageSize: 3 } });
    await h.provider.createRepository('r');
    const blobs = [...Array.from({ length: 7 }, () => blobIn('a')), ...Array.from({ length: 4 }, () => blobIn('5'))];
    for (const b of blobs) await write(h.provider, b.ref('r'), b.data);
    const listed = await listAll(h.provider, 'r', 'data');
    assert.deepEqual(listed.map((f) => f.name), blobs.map((b) => b.name).sort());
  });

  it('an entry deleted elsewhere while the pages are read does not make a later one go missing', async () => {
    h = await startHarness({ emulator: { pageSize: 5 } });
    await h.provider.createRepository('r');
    const blobs = Array.from({ length: 12 }, () => randomBlob(10));
    for (const b of blobs) await write(h.provider, b.ref('r', 'snapshots'), b.data);
    // Another client deletes a file of page 1 once page 1 was answered: the rest shift up a place.
    const folder = h.emulator.find('r/snapshots')[0]!;
    const gone = h.emulator.children(folder.id).sort((a, b) => b.id - a.id)[0]!; // on page 1 (newest first)
    h.emulator.afterListPage = (page) => {
      if (page !== 1 || gone.deleted_at) return;
      gone.deleted_at = new Date().toISOString();
    };
    const listed = (await listAll(h.provider, 'r', 'snapshots')).map((f) => f.name);
    const missing = blobs.map((b) => b.name).filter((name) => name !== gone.name && !listed.includes(name));
    assert.deepEqual(missing, []);
  });

  it('the workspace root listing ignores entries of other folders', async () => {
    h = await startHarness({ emulator: { pageSize: 4 } });
    // Elsewhere in the workspace: a folder named like our repository, deeper down.
    const other = h.emulator.addEntry({ name: 'elsewhere', parentId: null, folder: true });
    const decoy = h.emulator.addEntry({ name: 'r', parentId: other.id, folder: true });
    assert.equal(await h.provider.repositoryExists('r'), false, 'a nested folder taken for a root one');
    await h.provider.createRepository('r');
    const created = h.emulator.find('r');
    assert.equal(created.length, 1);
    assert.notEqual(created[0]!.id, decoy.id);
  });
});

describe('folders', () => {
  it('concurrent writes into a new data folder create it once', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    h.emulator.resetCounts();
    const blobs = Array.from({ length: 16 }, () => blobIn('c'));
    await Promise.all(blobs.map((b) => write(h.provider, b.ref('r'), b.data)));
    assert.equal(h.emulator.find('r/data/c' + blobs[0]!.name[1]).length >= 1, true);
    const shards = new Set(blobs.map((b) => b.name.slice(0, 2)));
    for (const shard of shards) assert.equal(h.emulator.find(`r/data/${shard}`).length, 1, `data/${shard} created twice`);
    assert.equal(h.emulator.counts.createFolder, shards.size);
    assert.equal(h.emulator.counts.upload, 16);
  });

  it('concurrent createRepository calls create each folder once', async () => {
    h = await startHarness();
    await Promise.all(Array.from({ length: 8 }, () => h.provider.createRepository('a/b')));
    for (const path of ['a', 'a/b', 'a/b/data', 'a/b/keys', 'a/b/locks', 'a/b/snapshots', 'a/b/index']) {
      assert.equal(h.emulator.find(path).length, 1, path);
    }
    assert.equal(h.emulator.counts.createFolder, 7);
  });

  it('a folder created by a call whose reply was lost is not created again', async () => {
    h = await startHarness();
    h.emulator.inject('createFolder', { kind: 'drop-response' });
    await h.provider.createRepository('r');
    assert.equal(h.emulator.find('r').length, 1);
    assert.equal(await h.provider.repositoryExists('r'), true);
  });

  it('two servers creating one folder both use the same one (the lowest id), whatever their caches say', async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const other = await createDrimeProvider({ api_key: h.emulator.apiKey, api_url: h.emulator.url }, { logger: capturingLogger([]) });
    try {
      const [mine, theirs] = [blobIn('ab'), blobIn('ab')];
      // The other server has listed r/data before data/ab existed, and trusts that listing.
      await assert.rejects(other.stat(mine.ref('r')), (err) => storageCodeOf(err) === StorageErrorCode.NOT_FOUND);
      await write(h.provider, mine.ref('r'), mine.data);
      await write(other, theirs.ref('r'), theirs.data);
      // Both files are in one folder, where anyone (a restarted server) finds them.
      const folders = h.emulator.find('r/data/ab');
      const files = h.emulator.children(folders[0]!.id).map((e) => e.name).sort();
      assert.deepEqual(files, [mine.name, theirs.name].sort(), 'the files were split between duplicate folders');
      assert.deepEqual(await readAll(other, mine.ref('r')), mine.data);
    } finally {
      await other.close();
    }
  });

  it('when the check listing after a creation fails, the next write still settles on the lowest id', async () => {
    h = await startHarness({ provider: { max_retries: 1 } });
    await h.provider.createRepository('r');
    // Another server created data/ab after this one cached the listing of r/data.
    const theirs = h.emulator.addEntry({ name: 'ab', parentId: h.emulator.find('r/data')[0]!.id, folder: true });
    const [first, second] = [blobIn('ab'), blobIn('ab')];
    h.emulator.inject('list', { kind: 'status', status: 503 }, 2);
    await assert.rejects(write(h.provider, first.ref('r'), first.data), (err) => storageCodeOf(err) === StorageErrorCode.BACKEND_UNAVAILABLE);
    await write(h.provider, second.ref('r'), second.data);
    assert.deepEqual(h.emulator.children(theirs.id).map((e) => e.name), [second.name], 'written into a duplicate folder');
  });

  it('duplicate folders resolve to the lowest id', async () => {
    h = await startHarness();
    const first = h.emulator.addEntry({ name: 'r', parentId: null, folder: true });
    h.emulator.addEntry({ name: 'r', parentId: null, folder: true });
    await h.provider.createRepository('r');
    assert.equal(h.emulator.find('r/keys')[0]!.parent_id, first.id);
  });
});

describe('duplicate file names', () => {
  it('a name stands for its oldest complete entry; incomplete ones are removed', async () => {
    h = await startHarness();
    // Left by an earlier run or another client: the provider has not listed them yet.
    const keys = seedFolders(h, 'r/keys');
    const blob = randomBlob(50);
    const broken = h.emulator.addEntry({ name: blob.name, parentId: keys.id, content: blob.data.subarray(0, 9), users: false });
    const good = h.emulator.addEntry({ name: blob.name, parentId: keys.id, content: blob.data });
    h.emulator.addEntry({ name: blob.name, parentId: keys.id, content: blob.data });
    assert.deepEqual(await h.provider.stat(blob.ref('r', 'keys')), { size: 50 });
    assert.deepEqual(await readAll(h.provider, blob.ref('r', 'keys')), blob.data);
    assert.deepEqual(await listAll(h.provider, 'r', 'keys'), [{ name: blob.name, size: 50 }]);
    await assert.rejects(write(h.provider, blob.ref('r', 'keys'), blob.data), (err) => storageCodeOf(err) === StorageErrorCode.ALREADY_EXISTS);
    await h.provider.close();
    const left = h.emulator.find(`r/keys/${blob.name}`).map((e) => e.id);
    assert.ok(!left.includes(broken.id), 'incomplete upload left in place');
    assert.ok(left.includes(good.id));
  });

  it('delete removes every entry of the name', async () => {
    h = await startHarness();
    const locks = seedFolders(h, 'r/locks');
    const blob = randomBlob(20);
    for (let i = 0; i < 3; i++) h.emulator.addEntry({ name: blob.name, parentId: locks.id, content: blob.data });
    await h.provider.delete(blob.ref('r', 'locks'));
    assert.equal(h.emulator.find(`r/locks/${blob.name}`).length, 0);
    await assert.rejects(h.provider.stat(blob.ref('r', 'locks')), (err) => storageCodeOf(err) === StorageErrorCode.NOT_FOUND);
  });

  it('delete_forever=false moves files to the trash', async () => {
    h = await startHarness({ provider: { delete_forever: false } });
    await h.provider.createRepository('r');
    const blob = randomBlob(20);
    await write(h.provider, blob.ref('r', 'snapshots'), blob.data);
    await h.provider.delete(blob.ref('r', 'snapshots'));
    assert.equal(h.emulator.find(`r/snapshots/${blob.name}`).length, 0);
    assert.equal(h.emulator.trashed().filter((e) => e.name === blob.name).length, 1);
  });
});

describe('root_folder', () => {
  it('keeps repositories under the given folder', async () => {
    h = await startHarness({ provider: { root_folder: '/backups/restic/' } });
    await h.provider.createRepository('r');
    const blob = randomBlob(30);
    await write(h.provider, blob.ref('r'), blob.data);
    assert.equal(h.emulator.find(`backups/restic/r/data/${blob.name.slice(0, 2)}/${blob.name}`).length, 1);
    assert.equal(h.emulator.find('r').length, 0);
    const repos: string[] = [];
    await write(h.provider, { repo: 'r', type: 'config', name: 'config' }, Buffer.from('cfg'));
    for await (const repo of h.provider.repositories()) repos.push(repo);
    assert.deepEqual(repos, ['r']);
  });
});

describe('listing cache', () => {
  it('sees changes made elsewhere once cache_ttl has passed, not before', async () => {
    h = await startHarness({ provider: { cache_ttl: 60 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(10);
    await assert.rejects(h.provider.stat(blob.ref('r', 'keys')), (err) => storageCodeOf(err) === StorageErrorCode.NOT_FOUND);
    h.emulator.addEntry({ name: blob.name, parentId: h.emulator.find('r/keys')[0]!.id, content: blob.data });
    h.emulator.resetCounts();
    await assert.rejects(h.provider.stat(blob.ref('r', 'keys')), (err) => storageCodeOf(err) === StorageErrorCode.NOT_FOUND);
    assert.equal(h.emulator.counts.list, 0, 'a fresh listing was asked again');
    h.advance(61_000);
    assert.deepEqual(await h.provider.stat(blob.ref('r', 'keys')), { size: 10 });
    assert.equal(h.emulator.counts.list, 1);
  });

  it('cache_ttl 0 lists again for every lookup', async () => {
    h = await startHarness({ provider: { cache_ttl: 0 } });
    await h.provider.createRepository('r');
    const blob = randomBlob(10);
    h.emulator.addEntry({ name: blob.name, parentId: h.emulator.find('r/keys')[0]!.id, content: blob.data });
    assert.deepEqual(await h.provider.stat(blob.ref('r', 'keys')), { size: 10 });
  });

  it("restic's list always asks Drime", async () => {
    h = await startHarness();
    await h.provider.createRepository('r');
    const blob = randomBlob(10);
    h.emulator.addEntry({ name: blob.name, parentId: h.emulator.find('r/snapshots')[0]!.id, content: blob.data });
    assert.deepEqual(await listAll(h.provider, 'r', 'snapshots'), [{ name: blob.name, size: 10 }]);
    assert.deepEqual(await h.provider.stat(blob.ref('r', 'snapshots')), { size: 10 }, 'the listing refreshed the cache');
  });
});
