// The stdio transport's confinement: every request path is put below the one repository,
// and repository paths are checked with the protocol's own rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confineUrl, parseRepositoryPath } from '../src/index.js';
import { parseRoute } from '../src/protocol/paths.js';

test('confineUrl puts every path below the repository, query kept, components encoded', () => {
  assert.equal(confineUrl('alice/laptop', '/config'), '/alice/laptop/config');
  assert.equal(confineUrl('alice/laptop', '/?create=true'), '/alice/laptop/?create=true');
  assert.equal(confineUrl('alice/laptop', 'data/'), '/alice/laptop/data/');
  assert.equal(confineUrl('', '/keys/'), '/keys/');
  assert.equal(confineUrl('my laptop#1', '/config'), '/my%20laptop%231/config');
  assert.deepEqual(parseRoute(confineUrl('my laptop#1', '/config')), { kind: 'config', repo: 'my laptop#1' });
});

test('paths that try to climb out stay below the repository or are refused', () => {
  for (const url of ['/../bob/config', '/%2e%2e/bob/config', '/..%2Fbob/config', '/.%2e/bob/config']) {
    const route = parseRoute(confineUrl('alice', url));
    assert.ok(route.kind === 'error' || route.repo.startsWith('alice'), `${url}: ${JSON.stringify(route)}`);
  }
  // `//bob/config` is the repository alice/<empty>/bob: refused, not bob.
  assert.equal(parseRoute(confineUrl('alice', '//bob/config')).kind, 'error');
});

test('parseRepositoryPath: relative, safe components only', () => {
  assert.equal(parseRepositoryPath('alice/laptop'), 'alice/laptop');
  for (const bad of ['', '/abs', '..', 'a/../b', 'a//b', '.hidden', 'a%2Fb', 'keys', 'a/data', 'a\\b', 'a\u0001b']) {
    assert.equal(parseRepositoryPath(bad), undefined, JSON.stringify(bad));
  }
});
