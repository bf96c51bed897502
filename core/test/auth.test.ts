import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { pathOwner } from '../src/policies/private-repos.js';
import { basic, htpasswd, startServer, tempDir } from './security-support.js';

const REALM = 'Basic realm="restic"';

async function htpasswdServer(t: import('node:test').TestContext, extra = {}) {
  const file = join(await tempDir(t), '.htpasswd');
  htpasswd(file, 'alice', 'alice-pw', '-B', true);
  htpasswd(file, 'bob', 'bob-pw', '-s');
  htpasswd(file, 'metrics', 'metrics-pw', '-m');
  return { file, ...(await startServer(t, { auth: { kind: 'htpasswd', file }, ...extra })) };
}

test('htpasswd auth: no credentials, a wrong password or an unknown user get 401 with the Basic challenge', async (t) => {
  const { url } = await htpasswdServer(t);
  for (const headers of <Record<string, string>[]>[{}, { authorization: basic('alice', 'nope') }, { authorization: basic('eve', 'alice-pw') }, { authorization: 'Bearer x' }]) {
    const res = await fetch(`${url}/alice/config`, { headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(res.headers.get('www-authenticate'), REALM);
    assert.equal(await res.text(), 'Unauthorized\n');
  }
});

test('htpasswd auth: bcrypt, SHA and APR1 users get through (404 for a repo that does not exist)', async (t) => {
  const { url } = await htpasswdServer(t);
  for (const [user, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw'], ['metrics', 'metrics-pw']]) {
    const res = await fetch(`${url}/${user}/config`, { method: 'HEAD', headers: { authorization: basic(user!, pw!) } });
    assert.equal(res.status, 404, user);
  }
});

test('an unauthenticated upload is refused before its body is read', async (t) => {
  const { url, provider } = await htpasswdServer(t);
  await provider.createRepository('alice');
  const res = await fetch(`${url}/alice/keys/${'a'.repeat(64)}`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 401);
  assert.equal(await provider.stat({ repo: 'alice', type: 'keys', name: 'a'.repeat(64) }).catch(() => 'missing'), 'missing');
});

test('createServer refuses to start when the htpasswd file is missing', async (t) => {
  const file = join(await tempDir(t), 'missing.htpasswd');
  await assert.rejects(startServer(t, { auth: { kind: 'htpasswd', file } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'PYRS_AUTH_SETUP');
    assert.ok(err.message.includes(file));
    return true;
  });
});

test('SIGHUP and reloadAuth() reload the htpasswd file', async (t) => {
  const { url, file, app } = await htpasswdServer(t);
  const as = (user: string, pw: string) =>
    fetch(`${url}/${user}/config`, { method: 'HEAD', headers: { authorization: basic(user, pw) } }).then((r) => r.status);
  assert.equal(await as('alice', 'alice-pw'), 404);
  htpasswd(file, 'alice', 'changed', '-s');
  htpasswd(file, 'carol', 'carol-pw', '-s');
  process.emit('SIGHUP', 'SIGHUP');
  // process.emit runs listeners synchronously; reloadAuth() waits for a reload to finish.
  assert.equal(await app.reloadAuth(), true);
  assert.equal(await as('alice', 'alice-pw'), 401);
  assert.equal(await as('alice', 'changed'), 404);
  assert.equal(await as('carol', 'carol-pw'), 404);
});

test('closing the server removes its SIGHUP listener', async (t) => {
  const before = process.listenerCount('SIGHUP');
  const { app } = await htpasswdServer(t);
  assert.equal(process.listenerCount('SIGHUP'), before + 1);
  await app.close();
  assert.equal(process.listenerCount('SIGHUP'), before);
});

test('proxy auth: the user comes from the header; no header is 401', async (t) => {
  const { url } = await startServer(t, { auth: { kind: 'proxy', header: 'X-Forwarded-User' }, privateRepos: true });
  const noHeader = await fetch(`${url}/alice/config`);
  assert.equal(noHeader.status, 401);
  assert.equal(noHeader.headers.get('www-authenticate'), null);
  assert.equal((await fetch(`${url}/alice/config`, { headers: { 'x-forwarded-user': 'alice' } })).status, 404);
  // Basic credentials mean nothing in proxy mode.
  assert.equal((await fetch(`${url}/alice/config`, { headers: { authorization: basic('alice', 'x') } })).status, 401);
  // The header's user is subject to private repos.
  assert.equal((await fetch(`${url}/bob/config`, { headers: { 'x-forwarded-user': 'alice' } })).status, 401);
});

test('private repos: a user may only touch paths below their own name (401 otherwise, as rest-server)', async (t) => {
  const { url } = await htpasswdServer(t, { privateRepos: true });
  const alice = { authorization: basic('alice', 'alice-pw') };
  assert.equal((await fetch(`${url}/alice/?create=true`, { method: 'POST', headers: alice })).status, 200);
  assert.equal((await fetch(`${url}/alice/sub/?create=true`, { method: 'POST', headers: alice })).status, 200);
  for (const path of ['/bob/?create=true', '/?create=true', '/alicex/?create=true', '/config', '/data/', '/%61lic%65x/']) {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: alice });
    assert.equal(res.status, 401, path);
  }
  assert.equal((await fetch(`${url}/%61lice/config`, { method: 'HEAD', headers: alice })).status, 404);
});

test('per-user privateRepos applies to that user only', async (t) => {
  const { url } = await htpasswdServer(t, { users: { bob: { privateRepos: true } } });
  assert.equal((await fetch(`${url}/x/?create=true`, { method: 'POST', headers: { authorization: basic('alice', 'alice-pw') } })).status, 200);
  assert.equal((await fetch(`${url}/x/config`, { method: 'HEAD', headers: { authorization: basic('bob', 'bob-pw') } })).status, 401);
});

test('no auth: requests pass, private repos cannot apply without users', async (t) => {
  const { url } = await startServer(t, { privateRepos: true });
  assert.equal((await fetch(`${url}/anyone/?create=true`, { method: 'POST' })).status, 200);
});

test('pathOwner reads the first path component, not file types, decoding percent-escapes', () => {
  assert.equal(pathOwner('/alice/data/00'), 'alice');
  assert.equal(pathOwner('/alice'), 'alice');
  assert.equal(pathOwner('/alice?create=true'), 'alice');
  assert.equal(pathOwner('/%61lice/'), 'alice');
  assert.equal(pathOwner('/config'), undefined);
  assert.equal(pathOwner('/keys/'), undefined);
  assert.equal(pathOwner('/'), undefined);
  assert.equal(pathOwner('/%E0%A4%A/'), undefined);
});
