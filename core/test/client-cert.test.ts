import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { reloadSettings } from '../src/policies/reload.js';
import { basic, htpasswd, selfSignedCert, startServer, tempDir } from './security-support.js';

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA and a client certificate for `user` signed by it (the real openssl). */
function clientCert(dir: string, ca: { cert: string; key: string }, user: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const [key, csr, cert] = ['key', 'csr', 'crt'].map((ext) => join(dir, `${user}.${ext}`)) as [string, string, string];
  openssl(['req', '-new', ...ec, '-subj', `/CN=${user}`, '-keyout', key, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert]);
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

function get(url: string, ca: Buffer, client: { cert: Buffer; key: Buffer }, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, ...client, headers, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.once('error', reject);
    req.end();
  });
}

test('--tls-client-ca with htpasswd: the password user must be the certificate CN (two factors)', async (t) => {
  const dir = await tempDir(t);
  const server = selfSignedCert(dir);
  const ca = selfSignedCert(dir, 'ca');
  const alice = clientCert(dir, ca, 'alice');
  const file = join(dir, '.htpasswd');
  htpasswd(file, 'alice', 'a-pw', '-s', true);
  htpasswd(file, 'bob', 'b-pw', '-s');
  const { app, provider } = await startServer(t, {
    auth: { kind: 'htpasswd', file }, privateRepos: true, tls: { cert: server.cert, key: server.key, clientCa: ca.cert },
  });
  await provider.createRepository('alice');
  const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const serverCa = readFileSync(server.cert);
  assert.equal(await get(`${url}/alice/config`, serverCa, alice, { authorization: basic('alice', 'a-pw') }), 404);
  assert.equal(await get(`${url}/alice/config`, serverCa, alice), 401, 'the certificate alone is not enough with htpasswd');
  assert.equal(await get(`${url}/alice/config`, serverCa, alice, { authorization: basic('alice', 'wrong') }), 401);
  assert.equal(await get(`${url}/bob/config`, serverCa, alice, { authorization: basic('bob', 'b-pw') }), 401, "bob's password with alice's certificate");
});

test('--tls-client-ca alone (--no-auth): the CN is the user, --private-repos keeps it to its repositories', async (t) => {
  const dir = await tempDir(t);
  const server = selfSignedCert(dir);
  const ca = selfSignedCert(dir, 'ca');
  const alice = clientCert(dir, ca, 'alice');
  const { app } = await startServer(t, { privateRepos: true, tls: { cert: server.cert, key: server.key, clientCa: ca.cert } });
  const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const serverCa = readFileSync(server.cert);
  assert.equal(await get(`${url}/alice/config`, serverCa, alice), 404);
  assert.equal(await get(`${url}/bob/config`, serverCa, alice), 401);
});

test('reloadSettings: append-only and private-repos change in place; quota changes need a restart and change nothing', () => {
  const options = { appendOnly: false, users: { alice: { appendOnly: true } }, repos: { 'x/y': { maxSize: 10 } } };
  const applied = reloadSettings(options, { users: { alice: { appendOnly: false, privateRepos: true } }, repos: { 'x/y': { maxSize: 10 } } });
  assert.deepEqual(applied, { applied: true, changed: ['users.alice.appendOnly', 'users.alice.privateRepos'] });
  assert.deepEqual(options.users, { alice: { appendOnly: false, privateRepos: true } });

  const quota = reloadSettings(options, { users: options.users, repos: { 'x/y': { maxSize: 20 } } });
  assert.equal(quota.applied, false);
  assert.match(quota.needsRestart!, /quota limits changed \(repos\.x\/y\.maxSize\)/);
  assert.deepEqual(options.repos, { 'x/y': { maxSize: 10 } });

  const none: { users?: Record<string, { appendOnly?: boolean }> } = {};
  const added = reloadSettings(none, { users: { bob: { appendOnly: true } } });
  assert.equal(added.applied, false);
  assert.match(added.needsRestart!, /append-only settings added/);
  assert.equal(none.users, undefined);
});
