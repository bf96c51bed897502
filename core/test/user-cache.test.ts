import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { userCacheDir } from '../src/user-cache.js';

async function withBase(run: (base: string) => Promise<void>): Promise<void> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'pyrs-user-cache-'));
  try {
    await run(base);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

test('makes $XDG_CACHE_HOME/pyrestserver/<name>, mode 0700, also when XDG_CACHE_HOME itself is missing', () =>
  withBase(async (base) => {
    const cache = path.join(base, 'cache');
    const dir = userCacheDir('things', { XDG_CACHE_HOME: cache });
    assert.equal(dir, path.join(cache, 'pyrestserver', 'things'));
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(userCacheDir('things', { XDG_CACHE_HOME: cache }), dir, 'an existing folder is fine');
  }));

test('a folder others can write to is not used', () =>
  withBase(async (base) => {
    const dir = path.join(base, 'pyrestserver', 'things');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777);
    assert.equal(userCacheDir('things', { XDG_CACHE_HOME: base }), undefined);
  }));

test('PYRESTSERVER_NO_CACHE, and a folder that cannot be made, give none', () =>
  withBase(async (base) => {
    assert.equal(userCacheDir('things', { XDG_CACHE_HOME: base, PYRESTSERVER_NO_CACHE: '1' }), undefined);
    // /proc answers ENOENT to mkdir of a new folder although /proc exists: no endless retry.
    assert.equal(userCacheDir('things', { XDG_CACHE_HOME: '/proc/pyrs-no-such-dir' }), undefined);
    const file = path.join(base, 'a-file');
    await writeFile(file, '');
    assert.equal(userCacheDir('things', { XDG_CACHE_HOME: file }), undefined);
  }));
