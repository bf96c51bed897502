/**
 * The built CLI (as installed) keeps Node's compiled-code cache in the user's cache folder
 * on Node >= 22.1 (module.enableCompileCache), so that later starts skip compiling its
 * modules; on older Node it runs without one. From source under tsx Node writes no cache,
 * hence the built bin here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import * as nodeModule from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI_BIN, ensureBuilt } from './support/cli.js';
import { removeDir, tempDir } from './support/tmp.js';

const run = promisify(execFile);
const nodeHasCache = typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

test(`compiled code is cached under XDG_CACHE_HOME/pyrestserver on Node >= 22.1, nowhere on older Node (here ${process.version})`, async () => {
  ensureBuilt();
  const home = await tempDir('pyrs-cache-');
  try {
    const env = { ...outerEnv(), XDG_CACHE_HOME: home };
    const { stdout } = await run(process.execPath, [CLI_BIN, 'serve', '--help'], { env });
    assert.match(stdout, /--path/);
    const cacheDir = path.join(home, 'pyrestserver', 'node-compile-cache');
    const entries = await readdir(cacheDir).catch(() => []);
    if (!nodeHasCache) return assert.deepEqual(entries, []);
    assert.ok(entries.length > 0, `no compile cache in ${cacheDir}`);
    // The second start reads it: same answer, cache still there.
    const again = await run(process.execPath, [CLI_BIN, 'serve', '--help'], { env });
    assert.equal(again.stdout, stdout);
  } finally {
    await removeDir(home);
  }
});

test('PYRESTSERVER_NO_CACHE: no cache folder at all', async () => {
  ensureBuilt();
  const home = await tempDir('pyrs-cache-');
  try {
    const { stdout } = await run(process.execPath, [CLI_BIN, 'serve', '--help'], { env: { ...outerEnv(), XDG_CACHE_HOME: home, PYRESTSERVER_NO_CACHE: '1' } });
    assert.match(stdout, /--path/);
    assert.deepEqual(await readdir(home), []);
  } finally {
    await removeDir(home);
  }
});

// Under /proc mkdir answers ENOENT although the parent exists: a recursive mkdirSync() (and
// Node 24's enableCompileCache) retried that for ever, and the CLI hung at start.
test('a cache folder that cannot be made does not stop the CLI', async () => {
  ensureBuilt();
  const env = { ...outerEnv(), XDG_CACHE_HOME: '/proc/pyrestserver-no-such-dir' };
  const { stdout, stderr } = await run(process.execPath, [CLI_BIN, 'serve', '--help'], { env, timeout: 30_000 });
  assert.match(stdout, /--path/);
  assert.doesNotMatch(stderr, /cache/i);
});

/** This process's environment without the variables that would choose or disable a cache. */
function outerEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_COMPILE_CACHE|NODE_DISABLE_COMPILE_CACHE|NODE_OPTIONS)$/.test(k)));
}
