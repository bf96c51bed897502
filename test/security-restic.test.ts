// rest-server's security features with the real restic client: TLS with a self-signed
// certificate, and credentials in the repository URL with private repos. (Unix sockets:
// restic 0.14 cannot use them, they came in restic 0.17; core/test/listen covers them
// over HTTP.) Append-only and quotas: security-restic-append-only / -quota.test.ts,
// apart because restic 0.14 retries a 403 or 507 for about 45 s before it gives up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupAndRestore, ok, useWorkFolder } from './security-support.js';
import { restic } from './support/restic.js';
import { startServer, type TestServer } from './support/server.js';

const paths = useWorkFolder();

describe('restic over TLS with a self-signed certificate', () => {
  let server: TestServer;
  let cert: string;
  before(async () => {
    cert = join(paths.work, 'public_key');
    const key = join(paths.work, 'private_key');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    server = await startServer({ tls: { cert, key, minVersion: '1.3' } });
  });
  after(() => server.close());

  it('init, backup and restore with --cacert', async () => {
    const repo = `rest:${server.url.replace('http:', 'https:')}/tls-repo/`;
    await backupAndRestore({ repo, cacert: cert }, paths.source, join(paths.work, 'restore-tls'));
  });

  it('without --cacert restic refuses the unknown certificate', async () => {
    const result = await restic(['snapshots'], { repo: `rest:${server.url.replace('http:', 'https:')}/tls-repo/` });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /certificate/i);
  });

  it('plain HTTP to the TLS port does not work', async () => {
    const result = await restic(['snapshots'], { repo: `rest:${server.url}/tls-repo/`, timeoutMs: 30_000 });
    assert.notEqual(result.code, 0);
  });
});

describe('restic with credentials in the URL, private repos', () => {
  let server: TestServer;
  before(async () => {
    const htpasswd = join(paths.work, '.htpasswd');
    execFileSync('htpasswd', ['-b', '-c', '-B', '-C', '5', htpasswd, 'alice', 'alice secret'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-b', '-m', htpasswd, 'bob', 'bob-secret'], { stdio: 'ignore' });
    server = await startServer({ auth: { kind: 'htpasswd', file: htpasswd }, privateRepos: true });
  });
  after(() => server.close());
  const url = (user: string, password: string, path: string) =>
    `rest:http://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}${path}`;

  it('alice backs up and restores in her own repository', async () => {
    await backupAndRestore({ repo: url('alice', 'alice secret', '/alice/laptop/') }, paths.source, join(paths.work, 'restore-alice'));
  });

  it('a wrong password is refused (401) and nothing is created', async () => {
    const result = await restic(['init'], { repo: url('alice', 'wrong', '/alice/other/') });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /401|Unauthorized/);
  });

  it("bob cannot read alice's repository", async () => {
    const result = await restic(['snapshots'], { repo: url('bob', 'bob-secret', '/alice/laptop/') });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /401|Unauthorized/);
    await ok(['init'], { repo: url('bob', 'bob-secret', '/bob/') });
  });
});
