/**
 * What only the local backend promises: rest-server's exact layout and modes, no
 * temporary files left behind, disk-full mapping, containment, listing at scale.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StorageErrorCode, storageCodeOf, type BackendContext, type FileRef } from '@pyrestserver/core';
import plugin, { LocalProvider } from '../src/index.js';
import { publish } from '../src/atomic-write.js';
import { DATA_SUBDIRS } from '../src/layout.js';
import { batchesOfType } from '../src/listing.js';
import { DirCache } from '../src/folder-cache.js';
import { SyncGate } from '../src/sync-gate.js';

const tmpRoots: string[] = [];
async function freshRoot(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pyrs-local-'));
  tmpRoots.push(root);
  return root;
}
after(async () => {
  for (const root of tmpRoots) await rm(root, { recursive: true, force: true });
});

const nameOf = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const bodyOf = (data: Buffer) => Readable.from([data]);
const ref = (repo: string, type: FileRef['type'], name: string): FileRef => ({ repo, type, name });
const mode = async (p: string) => (await stat(p)).mode & 0o777;

async function write(p: LocalProvider, repo: string, type: Exclude<FileRef['type'], 'config'>, data: Buffer) {
  const name = nameOf(data);
  await p.write(ref(repo, type, name), bodyOf(data), data.length);
  return name;
}

/** Every path under `dir`, relative, folders with a trailing slash. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)) + (e.isDirectory() ? '/' : ''))
    .sort();
}

async function expectCode(promise: Promise<unknown>, code: string, what: string) {
  await assert.rejects(promise, (err) => {
    assert.equal(storageCodeOf(err), code, `${what}: got ${String((err as Error).message)}`);
    return true;
  });
}

/** Runs `fn` with the process umask set to `mask`. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

const silentLogger = (): BackendContext['logger'] & { lines: unknown[][] } => {
  const lines: unknown[][] = [];
  const log = (...args: unknown[]) => void lines.push(args);
  return { lines, info: log, warn: log, error: log, debug: log, trace: log, fatal: log } as never;
};

describe('plugin descriptor', () => {
  it('is the "local" backend with rest-server\'s default path', () => {
    assert.equal(plugin.kind, 'pyrestserver-backend');
    assert.equal(plugin.type, 'local');
    assert.equal(plugin.optionsSchema.properties.path?.default, '/tmp/restic');
    assert.deepEqual(plugin.optionsSchema.required, ['path']);
  });

  it('create() builds a provider honouring groupAccessible', async () => {
    const root = await freshRoot();
    const provider = (await plugin.create({ path: root }, { logger: silentLogger(), groupAccessible: true })) as LocalProvider;
    try {
      assert.ok(provider instanceof LocalProvider);
      await provider.createRepository('g');
      assert.equal(await mode(path.join(root, 'g', 'keys')), 0o770);
    } finally {
      await provider.close();
    }
  });
});

describe('layout and permissions (rest-server 0.14)', () => {
  it('createRepository makes exactly data/00..ff and the four type folders, 0700', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await withUmask(0, () => p.createRepository('r'));
    const expected = ['data/', 'index/', 'keys/', 'locks/', 'snapshots/', ...DATA_SUBDIRS.map((d) => `data/${d}/`)].sort();
    assert.deepEqual(await tree(path.join(root, 'r')), expected);
    for (const dir of ['', 'data', 'data/00', 'data/ff', 'keys', 'locks', 'snapshots', 'index']) {
      assert.equal(await mode(path.join(root, 'r', dir)), 0o700, dir);
    }
  });

  it('files land where rest-server puts them, 0600', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await p.createRepository('a/b');
    const cfg = Buffer.from('config');
    await withUmask(0, async () => {
      await p.write(ref('a/b', 'config', 'config'), bodyOf(cfg), cfg.length);
      const data = await write(p, 'a/b', 'data', Buffer.from('some data'));
      const key = await write(p, 'a/b', 'keys', Buffer.from('a key'));
      const repo = path.join(root, 'a', 'b');
      for (const file of ['config', `data/${data.slice(0, 2)}/${data}`, `keys/${key}`]) {
        assert.equal(await mode(path.join(repo, file)), 0o600, file);
      }
    });
    assert.equal(await mode(path.join(root, 'a')), 0o700, 'parent folder created for a nested repository');
  });

  it('groupAccessible gives 0770 / 0660 even under umask 077', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root, groupAccessible: true });
    await withUmask(0o077, async () => {
      await p.createRepository('shared/repo');
      const name = await write(p, 'shared/repo', 'data', Buffer.from('group data'));
      const repo = path.join(root, 'shared', 'repo');
      for (const dir of ['', 'data', 'data/7f', 'index']) assert.equal(await mode(path.join(repo, dir)), 0o770, dir);
      assert.equal(await mode(path.join(root, 'shared')), 0o770);
      assert.equal(await mode(path.join(repo, 'data', name.slice(0, 2), name)), 0o660);
    });
  });

  it('an upload recreates a missing type or data/xx folder (as rest-server does), with its mode', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await p.createRepository('r');
    await rm(path.join(root, 'r', 'data'), { recursive: true });
    await rm(path.join(root, 'r', 'locks'), { recursive: true });
    assert.deepEqual([...(await collect(p.list('r', 'data')))], [], 'missing type folder lists nothing');
    const name = await write(p, 'r', 'data', Buffer.from('re-made'));
    await write(p, 'r', 'locks', Buffer.from('lock'));
    assert.equal(await mode(path.join(root, 'r', 'data', name.slice(0, 2))), 0o700);
    assert.equal((await collect(p.list('r', 'locks'))).length, 1);
  });
});

describe('temporary files', () => {
  let root: string;
  let p: LocalProvider;
  before(async () => {
    root = await freshRoot();
    p = new LocalProvider({ root });
    await p.createRepository('r');
  });

  it('none are left after failed, short, long, refused and racing uploads', async () => {
    const before = await tree(root);
    const data = randomBytes(100_000);
    const name = nameOf(data);
    const hangUp = new Error('hang-up');
    const failing = Readable.from(
      (async function* () {
        yield data.subarray(0, 50_000);
        throw hangUp;
      })(),
    );
    await assert.rejects(p.write(ref('r', 'data', name), failing, data.length), hangUp);
    await expectCode(p.write(ref('r', 'data', name), bodyOf(data.subarray(1)), data.length), StorageErrorCode.INCOMPLETE_BODY, 'short');
    const long = new PassThrough(); // a request body still arriving
    long.write(data);
    long.write(data);
    await expectCode(p.write(ref('r', 'index', name), long, data.length), StorageErrorCode.INCOMPLETE_BODY, 'long');
    assert.equal(long.destroyed, false, 'a refused body must be left for core to drain');
    assert.deepEqual(await tree(root), before, 'failed uploads left something behind');

    const racing = await Promise.allSettled(Array.from({ length: 6 }, () => p.write(ref('r', 'keys', name), bodyOf(data), data.length)));
    assert.equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one racing upload wins');
    await expectCode(p.write(ref('r', 'keys', name), bodyOf(data), data.length), StorageErrorCode.ALREADY_EXISTS, 'duplicate');
    assert.deepEqual(await tree(root), [...before, `r/keys/${name}`].sort());
  });

  it('stale leftovers (ours and rest-server\'s) are swept; fresh ones and our own stay; none are listed', async () => {
    await p.createRepository('s');
    const name = nameOf(Buffer.from('x'));
    const dataDir = path.join(root, 's', 'data', name.slice(0, 2));
    await writeFile(path.join(root, 's', 'config'), 'cfg');
    const stale = [
      path.join(dataDir, `.pyrs-tmp.deadbeef-1.${name}`),
      path.join(root, 's', 'keys', `${name}.rest-server-temp12345`),
      path.join(root, 's', `.pyrs-tmp.deadbeef-2.config`),
    ];
    const fresh = path.join(dataDir, `.pyrs-tmp.cafebabe-3.${name}`);
    for (const file of [...stale, fresh]) await writeFile(file, 'partial');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const file of stale) await utimes(file, old, old);

    assert.deepEqual(await collect(p.list('s', 'data')), [], 'temporary files listed');
    assert.deepEqual(await collect(p.list('s', 'keys')), [], 'rest-server temporary files listed');
    await expectCode(p.stat(ref('s', 'data', name)), StorageErrorCode.NOT_FOUND, 'stat of a name with only a temporary file');
    assert.equal(await p.sweepStaleTempFiles(), stale.length);
    for (const file of stale) await assert.rejects(stat(file), { code: 'ENOENT' });
    await stat(fresh);
    assert.equal(await p.sweepStaleTempFiles({ olderThanMs: 0 }), 1, 'fresh file removed once old enough');
  });
});

describe('publish without hard links (FAT, exFAT, some network mounts)', () => {
  it('falls back to check-then-rename and still refuses to replace', async () => {
    const dir = await freshRoot();
    const noLinks = async () => {
      throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
    };
    await writeFile(path.join(dir, '.tmp1'), 'one');
    await publish(path.join(dir, '.tmp1'), path.join(dir, 'target'), noLinks);
    assert.deepEqual(await readdir(dir), ['target']);
    await writeFile(path.join(dir, '.tmp2'), 'two');
    await expectCode(publish(path.join(dir, '.tmp2'), path.join(dir, 'target'), noLinks), StorageErrorCode.ALREADY_EXISTS, 'fallback overwrite');
    assert.equal((await stat(path.join(dir, 'target'))).size, 3);
  });

  it('other link errors are raised as they are', async () => {
    const dir = await freshRoot();
    await writeFile(path.join(dir, '.tmp'), 'x');
    await assert.rejects(publish(path.join(dir, '.tmp'), path.join(dir, 'missing', 'target'), link), { code: 'ENOENT' });
  });
});

describe('disk full', () => {
  it('ENOSPC during an upload is INSUFFICIENT_STORAGE, and nothing is left behind', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
    const root = await freshRoot();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', root], { stdio: 'pipe' });
    } catch (err) {
      return t.skip(`cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      const p = new LocalProvider({ root });
      await p.createRepository('r');
      const before = await tree(root);
      const big = randomBytes(2 * 1024 * 1024);
      const body = new PassThrough(); // a request body still arriving
      body.write(big);
      await expectCode(p.write(ref('r', 'data', nameOf(big)), body, big.length + 1), StorageErrorCode.INSUFFICIENT_STORAGE, 'write 2 MiB to 1 MiB');
      assert.equal(body.destroyed, false, 'the body was destroyed: the client would see a reset, not 507');
      assert.deepEqual(await tree(root), before);
      const small = Buffer.from('still fits');
      await write(p, 'r', 'data', small);
    } finally {
      execFileSync('umount', [root]);
    }
  });
});

describe('path containment', () => {
  it('refuses repository paths and names that could leave the data directory', async () => {
    const parent = await freshRoot();
    const root = path.join(parent, 'store');
    await mkdir(root);
    const p = new LocalProvider({ root });
    const name = nameOf(Buffer.from('x'));
    for (const repo of ['..', '../escape', 'a/../../escape', '/abs', 'a//b', 'a/', '.hidden', 'a/.b', 'a\\..\\b', 'a\0b', '.']) {
      await expectCode(p.createRepository(repo), StorageErrorCode.INVALID_INPUT, `create ${JSON.stringify(repo)}`);
      await expectCode(p.stat(ref(repo, 'data', name)), StorageErrorCode.INVALID_INPUT, `stat ${JSON.stringify(repo)}`);
      await expectCode(p.write(ref(repo, 'keys', name), bodyOf(Buffer.from('x')), 1), StorageErrorCode.INVALID_INPUT, `write ${JSON.stringify(repo)}`);
      await expectCode(collect(p.list(repo, 'keys')), StorageErrorCode.INVALID_INPUT, `list ${JSON.stringify(repo)}`);
    }
    await p.createRepository('ok');
    for (const bad of ['../../../etc/passwd', `../${name}`, name.toUpperCase(), 'config', `${name}0`]) {
      await expectCode(p.write(ref('ok', 'data', bad), bodyOf(Buffer.from('x')), 1), StorageErrorCode.INVALID_INPUT, `name ${bad}`);
      await expectCode(p.read(ref('ok', 'keys', bad)), StorageErrorCode.INVALID_INPUT, `read name ${bad}`);
    }
    await expectCode(p.stat(ref('ok', 'config', '../config')), StorageErrorCode.INVALID_INPUT, 'config name');
    await expectCode(p.stat({ repo: 'ok', type: '../x' as 'data', name }), StorageErrorCode.INVALID_INPUT, 'type');
    assert.deepEqual(await readdir(parent), ['store'], 'something was created outside the data directory');
  });
});

describe('repositories()', () => {
  it('finds every folder with a config, nested ones too, without entering type folders', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    for (const repo of ['one', 'team/a', 'team/b', 'bare']) await p.createRepository(repo);
    for (const repo of ['one', 'team/a', 'team/b']) await writeFile(path.join(root, repo, 'config'), 'c');
    // A folder named like a repository inside a type folder is data, not a repository.
    await mkdir(path.join(root, 'one', 'keys', 'fake'), { recursive: true });
    await writeFile(path.join(root, 'one', 'keys', 'fake', 'config'), 'c');
    await mkdir(path.join(root, '.hidden'));
    await writeFile(path.join(root, '.hidden', 'config'), 'c');
    assert.deepEqual((await collect(p.repositories())).sort(), ['one', 'team/a', 'team/b']);
  });
});

describe('listing at scale', () => {
  it('lists 100,000 data blobs with their sizes, skipping junk', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await p.createRepository('big');
    const dataDir = path.join(root, 'big', 'data');
    const count = 100_000;
    const expected = new Map<string, number>();
    const created = Date.now();
    // Hard links to 13 source files, made synchronously: the fastest way to make 100,000 files.
    const sources = Array.from({ length: 13 }, (_, size) => path.join(root, `source-${size}`));
    sources.forEach((file, size) => writeFileSync(file, Buffer.alloc(size)));
    for (let i = 0; i < count; i++) {
      const name = createHash('sha256').update(String(i)).digest('hex');
      expected.set(name, i % 13);
      linkSync(sources[i % 13]!, path.join(dataDir, name.slice(0, 2), name));
    }
    // Not listed: invalid names, temporary files, folders, files in the wrong or an invalid subfolder.
    const junk = ['README', `.pyrs-tmp.1-2.${'a'.repeat(64)}`, 'A'.repeat(64), 'c'.repeat(64)];
    for (const j of junk) await writeFile(path.join(dataDir, 'aa', j), 'junk');
    await mkdir(path.join(dataDir, 'aa', 'a'.repeat(64)));
    await mkdir(path.join(dataDir, 'a'));
    await writeFile(path.join(dataDir, 'a', 'a'.repeat(64)), 'junk');
    await writeFile(path.join(dataDir, 'd'.repeat(64)), 'junk');
    console.log(`# created ${count} files in ${Date.now() - created} ms`);

    const started = performance.now();
    const listed = await collect(p.list('big', 'data'));
    console.log(`# listed ${listed.length} blobs in ${(performance.now() - started).toFixed(0)} ms`);

    assert.equal(listed.length, count);
    const seen = new Set<string>();
    for (const { name, size } of listed) {
      assert.equal(size, expected.get(name), `size of ${name}`);
      assert.ok(!seen.has(name), `${name} listed twice`);
      seen.add(name);
    }
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('listings of unchanged folders kept (DirCache, folder-cache.ts)', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const blob = (seed: string) => {
    const data = Buffer.from(seed);
    return { name: createHash('sha256').update(data).digest('hex'), data };
  };
  const listOf = async (typeDir: string, cache: DirCache) => {
    const out: { name: string; size: number }[] = [];
    for await (const batch of batchesOfType(typeDir, true, new SyncGate(), cache)) for (const { name, size } of batch) out.push({ name, size });
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  };
  const place = (dataDir: string, b: { name: string; data: Buffer }) => writeFileSync(path.join(dataDir, b.name.slice(0, 2), b.name), b.data);
  /** A new repository `r` with `count` data blobs placed behind the provider's back. */
  const repoWith = async (count: number, seed: string) => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await p.createRepository('r');
    const dataDir = path.join(root, 'r', 'data');
    const blobs = Array.from({ length: count }, (_, i) => blob(`${seed}${i}`));
    for (const b of blobs) place(dataDir, b);
    return { p, dataDir, blobs };
  };

  it('stamped (no inotify): a folder changed behind the server (added, removed, renamed into place) is read again; an unchanged one is not', async () => {
    const { dataDir, blobs } = await repoWith(40, 'b');
    await sleep(60); // older than the cache's settle time below
    const cache = new DirCache(1000, { settledMs: 30, watch: false });
    const expected = blobs.map((b) => ({ name: b.name, size: b.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(await listOf(dataDir, cache), expected);
    assert.equal(cache.entries, 40, 'every settled folder kept');
    assert.deepEqual(await listOf(dataDir, cache), expected);

    // Another process (rest-server on the same folder, a person) adds, removes and renames.
    const added = blob('added later');
    place(dataDir, added);
    const [gone] = blobs;
    await rm(path.join(dataDir, gone!.name.slice(0, 2), gone!.name));
    const moved = blob('renamed into place');
    const temp = path.join(dataDir, moved.name.slice(0, 2), 'upload.tmp');
    writeFileSync(temp, moved.data);
    await sleep(60);
    execFileSync('mv', [temp, path.join(dataDir, moved.name.slice(0, 2), moved.name)]);
    const now = [...expected.filter((e) => e.name !== gone!.name), ...[added, moved].map((b) => ({ name: b.name, size: b.data.length }))].sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(await listOf(dataDir, cache), now);
    await sleep(60);
    assert.deepEqual(await listOf(dataDir, cache), now);
  });

  it('stamped: folders changed within the settle time, and more files than the bound, are not kept', async () => {
    const { dataDir } = await repoWith(20, 'c');
    const fresh = new DirCache(1000, { settledMs: 60_000, watch: false });
    assert.equal((await listOf(dataDir, fresh)).length, 20);
    assert.equal(fresh.entries, 0);
    await sleep(60);
    const small = new DirCache(5, { settledMs: 30, watch: false });
    assert.equal((await listOf(dataDir, small)).length, 20);
    assert.ok(small.entries <= 5, `${small.entries} kept`);
    assert.equal((await listOf(dataDir, small)).length, 20);
  });
  it('watched: kept at once, a change behind the server (added, removed, renamed into place) reported by the kernel drops only its folder', async () => {
    const { dataDir, blobs } = await repoWith(40, 'w');
    const cache = new DirCache(1000);
    const expected = blobs.map((b) => ({ name: b.name, size: b.data.length })).sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(await listOf(dataDir, cache), expected);
    assert.equal(cache.entries, 40, 'kept without waiting for the folders to settle');
    assert.equal(cache.watches, 257, 'data/ and each data/xx');
    const whole = cache.openWhole(dataDir);
    assert.ok(whole && 'files' in whole && whole.files.length === 40, 'the whole of data/ kept');
    const shardOf = (b: { name: string }) => path.join(dataDir, b.name.slice(0, 2));
    assert.ok(cache.open(shardOf(blobs[1]!)) && 'files' in cache.open(shardOf(blobs[1]!))!, 'an unchanged folder answers from the cache');

    const added = blob('added behind the server');
    place(dataDir, added);
    const [gone] = blobs;
    await rm(path.join(shardOf(gone!), gone!.name));
    const moved = blob('renamed into place, watched');
    const temp = path.join(shardOf(moved), 'upload.tmp');
    writeFileSync(temp, moved.data);
    execFileSync('mv', [temp, path.join(shardOf(moved), moved.name)]);
    await sleep(20); // a turn of the event loop: the kernel's reports are read
    const changedShards = new Set([added, gone!, moved].map(shardOf));
    assert.equal(cache.watches, 257 - changedShards.size, 'each changed folder dropped with its watch, no other');
    const again = cache.openWhole(dataDir);
    assert.ok(again && 'ticket' in again, 'the whole of data/ dropped with them');
    const now = [...expected.filter((e) => e.name !== gone!.name), ...[added, moved].map((b) => ({ name: b.name, size: b.data.length }))].sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(await listOf(dataDir, cache), now);
    assert.equal(cache.watches, 257);
    assert.deepEqual(await listOf(dataDir, cache), now, 'and again, whole');

    // A subfolder made behind the server (restic's own s3-to-local copies, a person) is listed.
    const stray = blob('in a new subfolder');
    await rm(shardOf(stray), { recursive: true });
    await sleep(20);
    await mkdir(shardOf(stray));
    place(dataDir, stray);
    await sleep(20);
    const withStray = now.filter((e) => !e.name.startsWith(stray.name.slice(0, 2)));
    withStray.push({ name: stray.name, size: stray.data.length });
    withStray.sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(await listOf(dataDir, cache), withStray);
    cache.clear();
    assert.equal(cache.watches, 0);
    assert.equal(cache.entries, 0);
  });

  it('watched: what the provider itself writes or deletes is listed at once', async () => {
    const root = await freshRoot();
    const p = new LocalProvider({ root });
    await p.createRepository('r');
    const names = async () => (await collect(p.list('r', 'data'))).map((f) => f.name).sort();
    const one = blob('written through the provider');
    await p.write({ repo: 'r', type: 'data', name: one.name }, Readable.from([one.data]), one.data.length);
    assert.deepEqual(await names(), [one.name]);
    const two = blob('a second one, same turn');
    await p.write({ repo: 'r', type: 'data', name: two.name }, Readable.from([two.data]), two.data.length);
    assert.deepEqual(await names(), [one.name, two.name].sort());
    await p.delete({ repo: 'r', type: 'data', name: one.name });
    assert.deepEqual(await names(), [two.name]);
    await p.close();
  });

  it('watched: making room for a folder may drop that folder itself; then it is not kept and the count stays right', async () => {
    const root = await freshRoot();
    const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
    await mkdir(a);
    await mkdir(b);
    const info = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `${i}`, size: i, modified: 0 }));
    const cache = new DirCache(5);
    const ticketOf = (dir: string) => {
      const lookup = cache.open(dir);
      assert.ok(lookup && 'ticket' in lookup);
      return lookup.ticket;
    };
    const [ta, tb] = [ticketOf(a), ticketOf(b)]; // a opened first: the least recently used
    cache.keep(tb, info(5));
    cache.keep(ta, info(3)); // room for 3 drops a (no files yet), then b
    assert.equal(cache.entries, 0);
    assert.ok('ticket' in cache.open(a)!, 'a was not kept');
    cache.clear();
  });

  it('watched: at most maxWatches folders, the least recently used dropped; listings stay complete', async () => {
    const { dataDir, blobs } = await repoWith(30, 'm');
    const cache = new DirCache(1000, { maxWatches: 10 });
    for (let round = 0; round < 2; round++) {
      assert.equal((await listOf(dataDir, cache)).length, 30);
      assert.ok(cache.watches <= 10, `${cache.watches} watched`);
    }
    cache.clear();
  });
});

describe('SyncGate', () => {
  /** A synchronous call that takes `ms` (blocked, as on a slow filesystem). */
  const blockFor = (ms: number) => () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

  it('more than 6 slow calls in a round close it, for a while; fast calls keep it open', () => {
    const gate = new SyncGate(() => 0);
    for (let i = 0; i < 1000; i++) gate.run(() => 1 + 1);
    assert.equal(gate.open, true);
    for (let i = 0; i < 6; i++) gate.run(blockFor(2));
    assert.equal(gate.open, true, 'six slow calls in a round are tolerated');
    gate.run(blockFor(2));
    assert.equal(gate.open, false);
    assert.equal(gate.closings, 1);
  });

  it('slow calls during which the process was preempted (short of CPU, not of disk) do not count; a hung one always does', () => {
    let switches = 0;
    const gate = new SyncGate(() => switches);
    for (let i = 0; i < 20; i++) {
      gate.run(() => {
        switches++; // preempted during the call
        blockFor(2)();
      });
    }
    assert.equal(gate.open, true);
    gate.run(() => {
      switches++;
      blockFor(60)();
    });
    assert.equal(gate.open, false, 'a call over 50 ms closes it whatever the reason');
  });
});
