// --max-size with the real restic client: a backup that does not fit fails with 507
// (after restic 0.14's retries, about 45 s) and the repository stays consistent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ok, useWorkFolder } from './security-support.js';
import { restic } from './support/restic.js';
import { startServer, type TestServer } from './support/server.js';

const paths = useWorkFolder();

describe('restic against a server with --max-size', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ maxSize: 600_000 });
  });
  after(() => server.close());

  it('a backup that does not fit fails with 507; the repository stays consistent', async () => {
    const options = { repo: `rest:${server.url}/quota/` };
    await ok(['init'], options);
    const result = await restic(['backup', '.'], { ...options, cwd: paths.source });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /507|Insufficient Storage/);
    await ok(['unlock'], options);
    await ok(['check'], options);
  });
});
