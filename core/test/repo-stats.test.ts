import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Readable } from 'node:stream';
import type { StorageProvider } from '../src/storage/types.js';
import { RepoStatsTracker, walkRepository } from '../src/repo-stats.js';
import { blob, local, silentLogger, startServer, tempDir, upload } from './security-support.js';

/** Every sample of one metric: labels as `k=v,k=v` -> value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (m) out.set((m[1] ?? '').replace(/"/g, ''), Number(m[2]));
  }
  return out;
}

async function scrape(url: string): Promise<string> {
  // The walk at start runs in the background: wait until it is done.
  for (let i = 0; i < 200; i++) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (samples(text, 'pyrestserver_repository_stats_pending').get('') === 0) return text;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('repository statistics never settled');
}

async function store(t: TestContext, files: Record<string, Record<string, string[]>>) {
  const root = await tempDir(t);
  const provider = await local.create({ path: root }, { logger: silentLogger, groupAccessible: false });
  for (const [repo, types] of Object.entries(files)) {
    await provider.createRepository(repo);
    for (const [type, contents] of Object.entries(types)) {
      for (const content of contents) {
        const b = blob(content);
        const name = type === 'config' ? 'config' : b.name;
        await provider.write({ repo, type: type as 'data', name }, Readable.from([b.body]), b.body.length);
      }
    }
  }
  return { root, provider };
}

test('/metrics per repository: counted once at start, then kept current by uploads and deletes', async (t) => {
  const { root } = await store(t, {
    'alice/laptop': { config: ['cfg'], data: ['d1', 'data two'], snapshots: ['s1'], keys: ['k'] },
    bob: { config: ['c'] },
  });
  // The newest snapshot's time comes from the listing (local: the file's mtime).
  const snapDir = join(root, 'alice/laptop/snapshots');
  const when = new Date('2026-11-30T08:00:00Z');
  await utimes(join(snapDir, blob('s1').name), when, when);

  const { url, provider } = await startServer(t, { prometheus: true }, root);
  let text = await scrape(url);
  const bytes = samples(text, 'pyrestserver_repository_stored_bytes');
  const files = samples(text, 'pyrestserver_repository_stored_files');
  assert.equal(bytes.get('repo=alice/laptop,type=data'), 2 + 8);
  assert.equal(files.get('repo=alice/laptop,type=data'), 2);
  assert.equal(files.get('repo=alice/laptop,type=config'), 1);
  assert.equal(bytes.get('repo=alice/laptop,type=config'), 3);
  assert.equal(files.get('repo=alice/laptop,type=locks'), 0);
  assert.equal(files.get('repo=bob,type=config'), 1);
  const newest = samples(text, 'pyrestserver_repository_newest_snapshot_timestamp_seconds');
  assert.equal(newest.get('repo=alice/laptop'), when.getTime() / 1000);
  assert.equal(newest.get('repo=bob'), undefined, 'no snapshot, no sample');

  // From now on no scrape lists the store: the counts follow the server's writes and deletes.
  let listings = 0;
  const list = provider.list.bind(provider);
  provider.list = (...args: Parameters<StorageProvider['list']>) => { listings++; return list(...args); };
  const before = Date.now() / 1000;
  const s2 = blob('snapshot two');
  assert.equal((await upload(`${url}/alice/laptop/snapshots/${s2.name}`, s2.body)).status, 200);
  assert.equal((await fetch(`${url}/alice/laptop/data/${blob('d1').name}`, { method: 'DELETE' })).status, 200);
  const d3 = blob('bob data');
  assert.equal((await upload(`${url}/bob/data/${d3.name}`, d3.body)).status, 200);
  text = await scrape(url);
  assert.equal(samples(text, 'pyrestserver_repository_stored_files').get('repo=alice/laptop,type=data'), 1);
  assert.equal(samples(text, 'pyrestserver_repository_stored_bytes').get('repo=alice/laptop,type=data'), 8);
  assert.equal(samples(text, 'pyrestserver_repository_stored_files').get('repo=alice/laptop,type=snapshots'), 2);
  assert.equal(samples(text, 'pyrestserver_repository_stored_bytes').get('repo=bob,type=data'), d3.body.length);
  const t2 = samples(text, 'pyrestserver_repository_newest_snapshot_timestamp_seconds').get('repo=alice/laptop')!;
  assert.ok(t2 >= before && t2 <= Date.now() / 1000 + 1, `newest snapshot ${t2} is the upload's time`);
  assert.equal(listings, 0, 'scrapes and uploads did not list the store');
  // rest-server's six counters are still there, unchanged.
  assert.equal(samples(text, 'rest_server_blob_write_total').get('user=,repo=alice/laptop,type=snapshots'), 1);
  assert.equal(samples(text, 'rest_server_blob_delete_bytes_total').get('user=,repo=alice/laptop,type=data'), 2);
});

test('a repository created after start is counted from its first upload on', async (t) => {
  const { url } = await startServer(t, { prometheus: true });
  await scrape(url);
  assert.equal((await fetch(`${url}/new/repo/?create=true`, { method: 'POST' })).status, 200);
  assert.equal((await upload(`${url}/new/repo/config`, Buffer.from('conf'))).status, 200);
  const k = blob('key');
  assert.equal((await upload(`${url}/new/repo/keys/${k.name}`, k.body)).status, 200);
  const text = await scrape(url);
  assert.equal(samples(text, 'pyrestserver_repository_stored_files').get('repo=new/repo,type=keys'), 1);
  assert.equal(samples(text, 'pyrestserver_repository_stored_bytes').get('repo=new/repo,type=config'), 4);
});

test('/metrics shows every quota with its limit and use', async (t) => {
  const { root } = await store(t, { 'alice/main': { config: ['c'], data: ['0123456789'] }, other: { config: ['c'], data: ['abc'] } });
  const { url } = await startServer(t, {
    prometheus: true, maxSize: 1000, users: { alice: { maxSize: 100 } }, repos: { 'alice/main': { maxSize: 50 } },
  }, root);
  const d = blob('12345');
  assert.equal((await upload(`${url}/alice/main/data/${d.name}`, d.body)).status, 200);
  const text = await scrape(url);
  const limit = samples(text, 'pyrestserver_quota_limit_bytes');
  const used = samples(text, 'pyrestserver_quota_used_bytes');
  assert.deepEqual([...limit], [['scope=server,name=', 1000], ['scope=user,name=alice', 100], ['scope=repo,name=alice/main', 50]]);
  assert.deepEqual([...used], [['scope=server,name=', 20], ['scope=user,name=alice', 16], ['scope=repo,name=alice/main', 16]]);
});

test('tracker: an upload during the walk of its repository makes it walk that repository again', async (t) => {
  const { provider } = await store(t, { r: { config: ['c'], data: ['one'] } });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let walks = 0;
  const list = provider.list.bind(provider);
  const slow: StorageProvider = Object.assign(Object.create(provider) as StorageProvider, {
    async *list(repo: string, type: Parameters<StorageProvider['list']>[1]) {
      if (type === 'data' && walks++ === 0) await gate;
      yield* list(repo, type);
    },
  });
  const tracker = new RepoStatsTracker(slow);
  tracker.start();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(tracker.pending, 1);
  // The file lands while the first walk is under way (the walk may or may not see it).
  const b = blob('two');
  await provider.write({ repo: 'r', type: 'data', name: b.name }, Readable.from([b.body]), b.body.length);
  tracker.written('r', 'data', b.body.length);
  release();
  await tracker.settled();
  assert.equal(walks, 2);
  const [stats] = [...tracker.counted()];
  assert.deepEqual(stats!.types.data, { files: 2, bytes: 6 });
  assert.equal(tracker.pending, 0);
});

test('walkRepository: a missing repository is undefined', async (t) => {
  const { provider } = await store(t, {});
  assert.equal(await walkRepository(provider, 'nope'), undefined);
});
