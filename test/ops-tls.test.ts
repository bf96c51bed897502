// Operations through the real CLI and the real restic: client certificates (--tls-client-ca,
// restic --tls-client-cert), certificate renewal without a restart (files renamed into place,
// SIGHUP), a broken certificate keeping the old one, and SIGHUP never stopping the server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, startCli, type CliServer } from './support/cli.js';
import { restic } from './support/restic.js';
import { removeDir, tempDir } from './support/tmp.js';

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed server certificate for 127.0.0.1, with `cn` to tell versions apart. */
function serverCert(dir: string, name: string, cn: string) {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  return { cert, key };
}

/** A CA, and a client certificate for `user` signed by it; `pem` holds certificate and key, as restic's --tls-client-cert takes them. */
function clientCert(dir: string, ca: { cert: string; key: string }, user: string, name = user) {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  openssl(['req', '-new', ...EC, '-subj', `/CN=${user}`, '-keyout', key, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert]);
  return { cert, key, pem: join(dir, `${name}.pem`) };
}

/** The CN of the certificate a new TLS connection to the server gets. */
function servedCn(port: number, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(client ?? {}) }, () => {
      const cn = new X509Certificate(socket.getPeerX509Certificate()!.raw).subject.match(/CN=(.*)/)?.[1] ?? '';
      socket.end();
      resolve(cn);
    });
    socket.once('error', reject);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(() => ensureBuilt());

describe('--tls-client-ca with the real restic, a reload of everything on SIGHUP', () => {
  let dir: string;
  let server: CliServer;
  let tls: { cert: string; key: string };
  let alice: { cert: string; key: string; pem: string };
  let bob: { cert: string; key: string; pem: string };
  let stranger: { cert: string; key: string; pem: string };
  const config = () => join(dir, 'pyrestserver.toml');

  before(async () => {
    dir = await tempDir('pyrs-ops-tls-');
    tls = serverCert(dir, 'server', 'first');
    const ca = serverCert(dir, 'ca', 'test-ca');
    const otherCa = serverCert(dir, 'other-ca', 'other-ca');
    alice = clientCert(dir, ca, 'alice');
    bob = clientCert(dir, ca, 'bob');
    stranger = clientCert(dir, otherCa, 'alice', 'stranger');
    for (const c of [alice, bob, stranger]) await writeFile(c.pem, `${await readFile(c.cert, 'utf8')}${await readFile(c.key, 'utf8')}`);
    await writeFile(config(), '[users.bob]\nprivateRepos = false\n');
    server = await startCli({
      scheme: 'https',
      args: ['--tls', '--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-client-ca', ca.cert, '--private-repos', '--config', config()],
    });
  });
  after(async () => {
    await server?.stop();
    await removeDir(dir);
  });

  const run = (who: { pem: string } | undefined, repo: string, args: string[], cacert = tls.cert) =>
    restic([...(who ? ['--tls-client-cert', who.pem] : []), ...args], { repo: `rest:${server.url}/${repo}`, cacert });

  it('restic with a client certificate: its CN is the user, --private-repos applies to it', async () => {
    const init = await run(alice, 'alice/main', ['init']);
    assert.equal(init.code, 0, init.stderr);
    const backup = await run(alice, 'alice/main', ['backup', join(dir, 'pyrestserver.toml')]);
    assert.equal(backup.code, 0, backup.stderr);
    const other = await run(alice, 'bob/main', ['init']);
    assert.notEqual(other.code, 0, 'alice may not create a repository of bob');
    assert.match(other.stderr, /401|Unauthorized/);
    // bob is exempt from --private-repos in the config file.
    const bobs = await run(bob, 'shared', ['init']);
    assert.equal(bobs.code, 0, bobs.stderr);
  });

  it('without a certificate, or with one from another CA, the TLS handshake fails', async () => {
    const none = await run(undefined, 'alice/main', ['snapshots']);
    assert.notEqual(none.code, 0);
    const foreign = await run(stranger, 'alice/main', ['snapshots']);
    assert.notEqual(foreign.code, 0);
    const own = await run(alice, 'alice/main', ['snapshots']);
    assert.equal(own.code, 0, own.stderr);
  });

  it('SIGHUP reloads the config file: a user setting changed takes effect, the server keeps running', async () => {
    await writeFile(config(), '[users.bob]\nprivateRepos = true\n');
    server.child.kill('SIGHUP');
    await until('the SIGHUP reload is logged', async () => /SIGHUP: reloaded/.test(server.output()));
    assert.match(server.output(), /users\.bob\.privateRepos/);
    const refused = await run(bob, 'shared', ['snapshots']);
    assert.notEqual(refused.code, 0, 'bob is now kept to bob/');
    assert.equal(server.child.exitCode, null);
  });

  it('a renewed certificate renamed into place is served to new connections without a restart', async () => {
    const client = { cert: await readFile(alice.cert), key: await readFile(alice.key) };
    assert.equal(await servedCn(server.port, client), 'first');
    const next = serverCert(dir, 'next', 'second');
    // What certbot and acme.sh do: write elsewhere, rename over the old files.
    await rename(next.key, tls.key);
    await rename(next.cert, tls.cert);
    await until('the new certificate is served', async () => (await servedCn(server.port, client)) === 'second');
    assert.match(server.output(), /reloaded TLS certificate/);
    const snapshots = await run(alice, 'alice/main', ['snapshots']);
    assert.equal(snapshots.code, 0, snapshots.stderr);
  });

  it('a broken new certificate keeps the old one serving, and the log says why', async () => {
    const client = { cert: await readFile(alice.cert), key: await readFile(alice.key) };
    const good = await readFile(tls.cert);
    const served = join(dir, 'served.crt');
    await writeFile(served, good);
    await writeFile(tls.cert, 'not a certificate\n');
    server.child.kill('SIGHUP');
    await until('the refusal is logged', async () => /could not reload TLS certificate; keeping the one in use/.test(server.output()));
    assert.equal(await servedCn(server.port, client), 'second');
    const snapshots = await run(alice, 'alice/main', ['snapshots'], served);
    assert.equal(snapshots.code, 0, snapshots.stderr);
    await writeFile(tls.cert, good);
  });
});

describe('SIGHUP never stops the server', () => {
  it('--no-auth (no htpasswd file, no TLS, no config file): still serving after SIGHUP', async () => {
    const server = await startCli({});
    try {
      server.child.kill('SIGHUP');
      await until('the SIGHUP reload is logged', async () => /SIGHUP: reloaded/.test(server.output()));
      assert.equal(server.child.exitCode, null);
      assert.equal((await fetch(`${server.url}/config`)).status, 404);
      assert.match(server.output(), /"htpasswd":"not used"/);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});
