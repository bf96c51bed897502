// The real restic client against `pyrestserver serve --backend drime` (the built CLI,
// loading the Drime plugin package), with the Drime API emulated in this process:
// init, backup, check --read-data, byte-identical restore, a second backup,
// forget --prune; once on a well-behaved Drime and once on one that answers 429
// (with Retry-After), 500/503, drops connections and keeps incomplete uploads at random.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALL_FAULTS, DrimeEmulator } from '../plugins/backend-drime/test/support/emulator.js';
import { ensureBuilt, startCli, type CliServer } from './support/cli.js';
import { restic, resticJson, type ResticOptions, type ResticResult } from './support/restic.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree, writeRandomFile } from './support/tree.js';


function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

/** The Drime emulator, the CLI serving it, a source tree and a scratch folder. */
async function setup(label: string) {
  ensureBuilt();
  const emulator = await DrimeEmulator.start({ pageSize: 50 });
  const server: CliServer = await startCli({
    path: false,
    args: ['--backend', 'drime', '--retry-delay', '20', '--max-retries', '8', '--max-connections', '6'],
    env: { DRIME_API_KEY: emulator.apiKey, DRIME_API_URL: emulator.url },
  });
  const work = await tempDir(`pyrs-drime-${label}-`);
  const source = join(work, 'source');
  await makeTree(source, { seed: label });
  return {
    emulator,
    server,
    work,
    source,
    opts: { repo: `rest:${server.url}/backups/${label}`, timeoutMs: 120_000 } as ResticOptions,
    async close() {
      if (server.child.exitCode === null) await server.stop();
      await emulator.close();
      await removeDir(work);
    },
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** init, backup, check --read-data, restore, second backup, forget --prune, check. */
function workflow(label: string, prepare: (s: Setup) => void) {
  let s: Setup;
  before(async () => {
    s = await setup(label);
    prepare(s);
  });
  after(() => s?.close());

  it('init, backup, check --read-data', async () => {
    ok(await restic(['init'], s.opts), 'init');
    assert.equal(s.emulator.find(`backups/${label}/config`).length, 1, 'one config entry in Drime');
    ok(await restic(['backup', '.'], { ...s.opts, cwd: s.source }), 'backup');
    ok(await restic(['check', '--read-data'], s.opts), 'check --read-data');
  });

  it('restore is byte-identical', async () => {
    const target = join(s.work, 'restore');
    ok(await restic(['restore', 'latest', '--target', target], s.opts), 'restore');
    assert.deepEqual(await hashTree(target), await hashTree(s.source));
  });

  it('a second backup, forget --prune, check', async () => {
    await writeRandomFile(join(s.source, 'docs/new.bin'), `${label}:new`, 700_000);
    ok(await restic(['backup', '.'], { ...s.opts, cwd: s.source }), 'second backup');
    const before = s.emulator.entries().filter((e) => e.type !== 'folder').length;
    ok(await restic(['forget', '--keep-last', '1', '--prune'], s.opts), 'forget --prune');
    const snapshots = await resticJson<unknown[]>(['snapshots'], s.opts);
    assert.equal(snapshots.length, 1);
    const afterPrune = s.emulator.entries().filter((e) => e.type !== 'folder').length;
    assert.ok(afterPrune < before, `prune removed nothing (${before} -> ${afterPrune} files)`);
    assert.equal(s.emulator.trashed().length, 0, 'deleted files went to the trash, still using space');
    ok(await restic(['check', '--read-data'], s.opts), 'check after prune');
    const target = join(s.work, 'restore-2');
    ok(await restic(['restore', 'latest', '--target', target], s.opts), 'restore after prune');
    assert.deepEqual(await hashTree(target), await hashTree(s.source));
  });

  it('no file in Drime is left with a duplicate name or as an incomplete upload', () => {
    const seen = new Set<string>();
    for (const e of s.emulator.entries()) {
      const key = `${e.parent_id}/${e.name}`;
      assert.ok(!seen.has(key), `two entries named ${e.name} in folder ${e.parent_id}`);
      seen.add(key);
      if (e.type !== 'folder') assert.ok(e.users.length > 0, `incomplete upload ${e.name} left`);
    }
  });

  it('the server never printed the API key', async () => {
    await s.server.stop();
    assert.ok(!s.server.output().includes(s.emulator.apiKey), 'API key in the server output');
  });
}

describe('restic over pyrestserver serve --backend drime', () => {
  workflow('clean', () => undefined);
});

describe('restic over pyrestserver serve --backend drime, Drime misbehaving', () => {
  let emulator: DrimeEmulator;
  workflow('faults', (s) => {
    emulator = s.emulator;
    s.emulator.chaos({ rate: 0.06, seed: 5, faults: ALL_FAULTS });
    // And for sure: the first uploads (config, key) are kept incomplete once each.
    s.emulator.inject('upload', { kind: 'incomplete' });
    s.emulator.inject('upload', { kind: 'incomplete', wrongSize: true }, 2);
  });
  it('faults of every kind were met', () => {
    for (const kind of ['429', '500', '503', 'drop-request', 'drop-response', 'incomplete']) {
      assert.ok((emulator.faultsMet[kind] ?? 0) > 0, `no ${kind}: ${JSON.stringify(emulator.faultsMet)}`);
    }
  });
});
