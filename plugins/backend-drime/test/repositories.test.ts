/** repositories(): the walk of the folder tree that a store-wide quota counts from. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { BLOB_TYPES } from '@pyrestserver/core';
import { createDrimeProvider } from '../src/index.js';
import { blobIn, write } from './support/blobs.js';
import type { DrimeEmulator, StoredEntry } from './support/emulator.js';
import { capturingLogger, nonZero, startHarness, type Harness } from './support/setup.js';

let h: Harness;
afterEach(() => h?.close());

const CONFIG = { repo: '', type: 'config', name: 'config' } as const;

async function repositoriesOf(h: Harness): Promise<string[]> {
  const repos: string[] = [];
  for await (const repo of h.provider.repositories()) repos.push(repo);
  return repos.sort();
}

/** Folders and files at `/`-separated paths below `parent` (a trailing `/` makes a folder). */
function build(emulator: DrimeEmulator, parent: number | null, paths: string[]): Map<string, StoredEntry> {
  const made = new Map<string, StoredEntry>();
  for (const path of paths) {
    const parts = path.split('/');
    const folder = parts.at(-1) === '';
    if (folder) parts.pop();
    let parentId = parent;
    parts.forEach((name, i) => {
      const at = parts.slice(0, i + 1).join('/');
      const isFolder = folder || i < parts.length - 1;
      let entry = made.get(at);
      if (!entry) made.set(at, (entry = emulator.addEntry({ name, parentId, folder: isFolder, content: Buffer.from('cfg') })));
      parentId = entry.id;
    });
  }
  return made;
}

const pagesOf = (emulator: DrimeEmulator, folderId: number | null, pageSize: number) =>
  Math.max(1, Math.ceil((folderId === null ? emulator.entries() : emulator.children(folderId)).length / pageSize));

describe('repositories()', () => {
  it('finds repositories at any depth, in the root and inside other repositories, each folder listed once', async () => {
    const pageSize = 7;
    h = await startHarness({ emulator: { pageSize }, provider: { root_folder: 'backups' } });
    const [root] = build(h.emulator, null, ['backups/']).values();
    const typeFolders = BLOB_TYPES.map((t) => `${t}/`);
    const tree = build(h.emulator, root!.id, [
      'config', // the repository at the root itself
      ...typeFolders,
      'data/ab/config', // inside a repository's type folder: not a repository
      'a/config',
      ...typeFolders.map((t) => `a/${t}`),
      'a/sub/config', // a repository inside a repository
      'u/v/w/deep/config', // four levels down
      'empty/',
      '.hidden/config', // hidden, as on disk
      ...Array.from({ length: 10 }, (_, i) => `many/r${i}/config`), // more than a page
    ]);
    h.emulator.resetCounts();

    const expected = ['', 'a', 'a/sub', ...Array.from({ length: 10 }, (_, i) => `many/r${i}`), 'u/v/w/deep'];
    assert.deepEqual(await repositoriesOf(h), expected.sort());

    // The workspace root (to find `backups`), then every walked folder once, page by page.
    const walked = ['a', 'a/sub', 'u', 'u/v', 'u/v/w', 'u/v/w/deep', 'empty', 'many', ...expected.filter((r) => r.startsWith('many/'))];
    const listings =
      pagesOf(h.emulator, null, pageSize) +
      pagesOf(h.emulator, root!.id, pageSize) +
      walked.reduce((n, path) => n + pagesOf(h.emulator, tree.get(path)!.id, pageSize), 0);
    assert.ok(pagesOf(h.emulator, tree.get('many')!.id, pageSize) > 1, 'many/ spans pages');
    assert.deepEqual(nonZero(h.emulator.counts), { list: listings });
  });

  it('lists a bounded number of folders at once', async () => {
    h = await startHarness({ emulator: { listDelay: 20 } });
    build(h.emulator, null, Array.from({ length: 12 }, (_, i) => `r${i}/config`));
    assert.equal((await repositoriesOf(h)).length, 12);
    assert.ok(h.emulator.peakListings > 1, 'folders were listed one at a time');
    assert.ok(h.emulator.peakListings <= 4, `${h.emulator.peakListings} listings at once`);
  });

  it('yields nothing when root_folder does not exist, and a repository at the root as ""', async () => {
    h = await startHarness({ provider: { root_folder: 'nowhere' } });
    assert.deepEqual(await repositoriesOf(h), []);
    await h.provider.createRepository('');
    await write(h.provider, CONFIG, Buffer.from('cfg'));
    assert.deepEqual(await repositoriesOf(h), ['']);
  });

  it('a failed listing fails the walk', async () => {
    h = await startHarness({ provider: { max_retries: 0 } });
    build(h.emulator, null, ['a/config', 'b/config']);
    h.emulator.inject('list', { kind: 'status', status: 500 }, 1);
    await assert.rejects(repositoriesOf(h));
  });

  it('costs one listing per folder down to each repository (a store of three: 5 calls)', async () => {
    // page_size 1000 as in production: the workspace root fits one page.
    h = await startHarness({ emulator: { pageSize: 1000 } });
    for (const repo of ['a', 'b', 'users/c']) {
      await h.provider.createRepository(repo);
      await write(h.provider, { ...CONFIG, repo }, Buffer.from('cfg'));
      for (const blob of ['0', '1', '2'].map((prefix) => blobIn(prefix))) await write(h.provider, blob.ref(repo), blob.data);
    }
    const restarted = await createDrimeProvider({ api_key: h.emulator.apiKey, api_url: h.emulator.url }, { logger: capturingLogger([]) });
    try {
      h.emulator.resetCounts();
      const repos: string[] = [];
      for await (const repo of restarted.repositories()) repos.push(repo);
      assert.deepEqual(repos.sort(), ['a', 'b', 'users/c']);
      assert.deepEqual(nonZero(h.emulator.counts), { list: 5 }, 'root, a, b, users, users/c');
    } finally {
      await restarted.close();
    }
  });
});
