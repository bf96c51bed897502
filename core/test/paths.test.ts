import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALLOWED_METHODS, isFileName, isSafeComponent, MAX_REPO_DEPTH, MAX_REPO_PATH_BYTES, parseRoute } from '../src/protocol/paths.js';

const NAME = 'ab'.repeat(32);

describe('parseRoute: the routes', () => {
  it('reads the root repository', () => {
    assert.deepEqual(parseRoute('/'), { kind: 'repo', repo: '' });
    assert.deepEqual(parseRoute('/?create=true'), { kind: 'repo', repo: '' });
    assert.deepEqual(parseRoute('/config'), { kind: 'config', repo: '' });
    assert.deepEqual(parseRoute('/keys/'), { kind: 'list', repo: '', type: 'keys' });
    assert.deepEqual(parseRoute(`/data/${NAME}`), { kind: 'file', repo: '', type: 'data', name: NAME });
  });

  it('reads nested repositories, parsing from the end', () => {
    assert.deepEqual(parseRoute('/alice/?create=true'), { kind: 'repo', repo: 'alice' });
    assert.deepEqual(parseRoute('/alice/main/'), { kind: 'repo', repo: 'alice/main' });
    assert.deepEqual(parseRoute('/alice/main/config'), { kind: 'config', repo: 'alice/main' });
    assert.deepEqual(parseRoute('/a/b/c/snapshots/'), { kind: 'list', repo: 'a/b/c', type: 'snapshots' });
    assert.deepEqual(parseRoute(`/a/b/c/d/locks/${NAME}?x=1`), { kind: 'file', repo: 'a/b/c/d', type: 'locks', name: NAME });
  });

  it('accepts every blob type', () => {
    for (const type of ['data', 'keys', 'locks', 'snapshots', 'index']) {
      assert.deepEqual(parseRoute(`/r/${type}/`), { kind: 'list', repo: 'r', type });
      assert.deepEqual(parseRoute(`/r/${type}/${NAME}`), { kind: 'file', repo: 'r', type, name: NAME });
    }
  });

  it('caps the repository depth', () => {
    const deep = (n: number) => '/' + Array.from({ length: n }, (_, i) => `p${i}`).join('/');
    assert.equal(parseRoute(`${deep(MAX_REPO_DEPTH)}/config`).kind, 'config');
    assert.deepEqual(parseRoute(`${deep(MAX_REPO_DEPTH + 1)}/config`), { kind: 'error', status: 404 });
  });

  it('caps components at 255 bytes of UTF-8, and the repository path at MAX_REPO_PATH_BYTES', () => {
    assert.equal(isSafeComponent('a'.repeat(255)), true);
    assert.equal(isSafeComponent('a'.repeat(256)), false);
    assert.equal(isSafeComponent('\u00e9'.repeat(127)), true); // 254 bytes
    assert.equal(isSafeComponent('\u00e9'.repeat(128)), false); // 128 characters, 256 bytes
    const repoOf = (bytes: number) => Array.from({ length: Math.ceil(bytes / 201) }, () => 'x'.repeat(200)).join('/').slice(0, bytes);
    assert.equal(parseRoute(`/${repoOf(MAX_REPO_PATH_BYTES)}/config`).kind, 'config');
    assert.deepEqual(parseRoute(`/${repoOf(MAX_REPO_PATH_BYTES + 1)}/config`), { kind: 'error', status: 404 });
    const wide = Array.from({ length: 5 }, () => encodeURIComponent('\u00e9'.repeat(120))).join('/'); // 1204 bytes, 604 characters
    assert.deepEqual(parseRoute(`/${wide}/config`), { kind: 'error', status: 404 });
  });

  it('decodes percent-encoded components one by one', () => {
    assert.deepEqual(parseRoute('/al%69ce/config'), { kind: 'config', repo: 'alice' });
    assert.deepEqual(parseRoute('/caf%C3%A9/config'), { kind: 'config', repo: 'café' });
    assert.deepEqual(parseRoute('/r/d%61ta/'), { kind: 'list', repo: 'r', type: 'data' });
  });

  it('gives each route its Allow list', () => {
    assert.equal(ALLOWED_METHODS.repo, 'POST');
    assert.equal(ALLOWED_METHODS.list, 'GET');
    assert.equal(ALLOWED_METHODS.file, 'HEAD, GET, POST, DELETE');
  });
});

describe('parseRoute: refusals', () => {
  const notFound = { kind: 'error', status: 404 };

  it('refuses bad names and unknown shapes with 404', () => {
    for (const path of [
      `/data/${NAME.toUpperCase()}`,
      `/data/${NAME.slice(1)}`,
      `/data/${NAME}0`,
      `/data/${NAME.slice(1)}g`,
      `/data/${NAME}/`.replace(/\/$/, '/x'),
      `/other/${NAME}`,
      `/${NAME}`,
      '/data',
      '/alice/main',
      '/config/',
      '',
      'config',
      '*',
    ]) {
      assert.deepEqual(parseRoute(path), notFound, path);
    }
  });

  it('refuses unsafe repository components, raw or percent-encoded', () => {
    for (const path of [
      '//config',
      '/a//config',
      '/./config',
      '/../config',
      '/a/../config',
      '/a/../../etc/config',
      '/.htpasswd/config',
      '/a/.hidden/config',
      '/%2e%2e/config',
      '/%2E%2E/config',
      '/a/%2e/config',
      '/..%2f..%2fetc/config',
      '/a%2fb/config',
      '/a%5cb/config',
      '/a\\b/config',
      '/a%00b/config',
      '/a\x00b/config',
      '/a%0ab/config',
      '/%252e%252e/config',
      '/a%25b/config',
      '/data/data/',
      '/keys/config',
      '/config/config',
      `/a/${'x'.repeat(256)}/config`,
    ]) {
      assert.deepEqual(parseRoute(path), notFound, JSON.stringify(path));
    }
  });

  it('answers 400 for undecodable percent-encoding', () => {
    assert.deepEqual(parseRoute('/a%zz/config'), { kind: 'error', status: 400 });
    assert.deepEqual(parseRoute('/a%/config'), { kind: 'error', status: 400 });
    assert.deepEqual(parseRoute('/%C3/config'), { kind: 'error', status: 400 });
  });
});

describe('name and component checks', () => {
  it('isFileName takes exactly 64 lowercase hex characters', () => {
    assert.equal(isFileName('0123456789abcdef'.repeat(4)), true);
    assert.equal(isFileName('0123456789ABCDEF'.repeat(4)), false);
    assert.equal(isFileName('0'.repeat(63)), false);
    assert.equal(isFileName('0'.repeat(63) + 'g'), false);
  });

  it('isSafeComponent refuses reserved and dangerous names', () => {
    assert.equal(isSafeComponent('alice'), true);
    assert.equal(isSafeComponent('my repo+1'), true);
    for (const bad of ['', '.', '..', '.x', 'a/b', 'a\\b', 'a%b', 'a\x00', 'a\x7f', 'config', 'data', 'index']) {
      assert.equal(isSafeComponent(bad), false, JSON.stringify(bad));
    }
  });
});
