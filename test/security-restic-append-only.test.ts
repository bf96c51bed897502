// --append-only with the real restic client: backups work, `forget --prune` fails
// (restic 0.14 retries each refused DELETE for about 45 s first) and no data is lost.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ok, useWorkFolder } from './security-support.js';
import { restic, resticJson } from './support/restic.js';
import { startServer, type TestServer } from './support/server.js';
import { hashTree, writeRandomFile } from './support/tree.js';

const paths = useWorkFolder();

describe('restic against an append-only server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ appendOnly: true });
  });
  after(() => server.close());

  it('backups work; forget --prune fails and loses nothing', async () => {
    const options = { repo: `rest:${server.url}/vault/` };
    await ok(['init'], options);
    await ok(['backup', '.'], { ...options, cwd: paths.source });
    await writeRandomFile(join(paths.source, 'later.bin'), 'later', 50_000);
    await ok(['backup', '.'], { ...options, cwd: paths.source });
    const before = await resticJson<{ id: string }[]>(['snapshots'], options);
    assert.equal(before.length, 2);

    const forget = await restic(['forget', '--keep-last', '1', '--prune'], options);
    assert.notEqual(forget.code, 0, 'forget --prune must fail on an append-only server');
    assert.match(forget.stderr, /403|Forbidden/);

    await ok(['unlock'], options);
    const afterForget = await resticJson<{ id: string }[]>(['snapshots'], options);
    assert.deepEqual(afterForget.map((s) => s.id).sort(), before.map((s) => s.id).sort());
    await ok(['check', '--read-data'], options);
    const target = join(paths.work, 'restore-vault');
    await ok(['restore', 'latest', '--target', target], options);
    assert.deepEqual(await hashTree(target), await hashTree(paths.source));
  });
});
