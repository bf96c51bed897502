import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { setTable } from '../src/config/toml-edit.js';

const HAND_WRITTEN = `# My backends, edited by hand.
title = "top-level value"   # kept

# the main disk
[main]
type = "local"
# where the repositories live
path = "/srv/restic"   # trailing comment

[  "cloud" ]   # quoted header
type = "drime"
api_key = "obscured-value"
workspace_id = 5
tags = [
  "a", # inside an array
  "b",
]
note = """
[not-a-header]
"""

# archive disk
[archive]
type = 'local'
path = '/archive'
`;

test('changing one value keeps every other byte', () => {
  const out = setTable(HAND_WRITTEN, 'main', { type: 'local', path: '/data/restic' });
  assert.equal(out, HAND_WRITTEN.replace('path = "/srv/restic"', 'path = "/data/restic"'));
});

test('unchanged values are not rewritten (quotes, formatting stay)', () => {
  const out = setTable(HAND_WRITTEN, 'archive', { type: 'local', path: '/archive' });
  assert.equal(out, HAND_WRITTEN);
});

test('a key is added after the last pair of its table, a removed key loses its line', () => {
  const out = setTable(HAND_WRITTEN, 'cloud', {
    type: 'drime',
    api_key: 'obscured-value',
    tags: ['a', 'b'],
    note: '[not-a-header]\n',
    read_only: true,
  });
  const expected = HAND_WRITTEN.replace('workspace_id = 5\n', '').replace('"""\n\n# archive', '"""\nread_only = true\n\n# archive');
  assert.equal(out, expected);
});

test('a new table is appended after a blank line', () => {
  const out = setTable(HAND_WRITTEN, 'new-one', { type: 'local', path: '/x' });
  assert.equal(out, `${HAND_WRITTEN}\n[new-one]\ntype = "local"\npath = "/x"\n`);
  assert.equal(setTable('', 'a', { type: 'local' }), '[a]\ntype = "local"\n');
  assert.equal(setTable('x = 1', 'a', { type: 'local' }), 'x = 1\n\n[a]\ntype = "local"\n');
});

test('removing a table takes its own comments along and leaves the others', () => {
  const out = setTable(HAND_WRITTEN, 'main', undefined);
  const expected = HAND_WRITTEN.replace(/# the main disk\n\[main\][\s\S]*?(?=\[  "cloud" \])/, '');
  assert.equal(out, expected);
  const last = setTable(HAND_WRITTEN, 'archive', undefined);
  assert.ok(last.endsWith('"""\n'), JSON.stringify(last.slice(-20)));
  assert.equal((parse(last) as Record<string, unknown>).archive, undefined);
});

test('a table written in another shape is replaced as a whole, the rest kept', () => {
  const text = `a = 1\ninline = { type = "local", path = "/p" }\n\n[other]\nx = 1\n\n[dotted]\nsub.key = 1\n[dotted.more]\ny = 2\n`;
  const inline = setTable(text, 'inline', { type: 'local', path: '/q' });
  assert.deepEqual(structuredClone(parse(inline)), { a: 1, other: { x: 1 }, dotted: { sub: { key: 1 }, more: { y: 2 } }, inline: { type: 'local', path: '/q' } });
  assert.ok(inline.startsWith('a = 1\n\n[other]'));
  const dotted = setTable(text, 'dotted', { type: 'local' });
  assert.equal(dotted, `a = 1\ninline = { type = "local", path = "/p" }\n\n[other]\nx = 1\n\n[dotted]\ntype = "local"\n`);
});

test('CRLF files stay CRLF', () => {
  const text = '[a]\r\ntype = "local"\r\npath = "/x"\r\n';
  assert.equal(setTable(text, 'a', { type: 'local', path: '/y', extra: 1 }), '[a]\r\ntype = "local"\r\npath = "/y"\r\nextra = 1\r\n');
  assert.equal(setTable(text, 'b', { type: 'local' }), `${text}\r\n[b]\r\ntype = "local"\r\n`);
});

test('values needing escapes are written as valid TOML', () => {
  const value = 'quote " backslash \\ newline \n tab \t del \x7f';
  const out = setTable('[a]\ntype = "x"\n', 'a', { type: 'x', s: value });
  assert.equal((parse(out) as { a: { s: string } }).a.s, value);
});

test('a table replaced as a whole keeps the comments above its header', () => {
  const text = `# about x\n[x]\ntype = "local"\nsub.key = 1\n\n# about y\n[y]\ntype = "local"\n`;
  assert.equal(setTable(text, 'x', { type: 'drime' }), `# about x\n[x]\ntype = "drime"\n\n# about y\n[y]\ntype = "local"\n`);
});

test('a key is added to a last line that has no newline', () => {
  assert.equal(setTable('[a]\ntype = "x" # c', 'a', { type: 'x', n: 1 }), '[a]\ntype = "x" # c\nn = 1\n');
});

test('literal strings and multi-line strings with quote runs are skipped correctly', () => {
  const text = `[a]\ntype = "x"\ns = '''it's '' [b]'''\nt = """ends with two quotes"""""\n[b]\ntype = "y"\n`;
  const out = setTable(text, 'b', { type: 'z' });
  assert.equal(out, text.replace('type = "y"', 'type = "z"'));
});

test('tricky documents: quoted keys with = and ], brackets in comments and strings, arrays of tables', () => {
  const text = `"a=b" = 1 # [not] a header
'lit]key' = "x ] y"
[first]
type = "x"
"quoted key" = "v" # comment with = and [brackets]
arr = [ [1, 2], ["]", "["] ] # nested
inline = { a = 1, "b]" = "}" }
[[list]]
n = 1
[[list]]
n = 2
[ "sp ace" . inner ]
x = 1
[last]
type = "y"
date = 1979-05-27 07:32:00Z
ml = '''
[fake]
type = "z"
'''
`;
  const doc = parse(text) as Record<string, Record<string, unknown>>;
  for (const name of ['first', 'last']) {
    const changed = { ...doc[name], type: 'changed', added: [1, 2] };
    const out = setTable(text, name, changed);
    assert.deepEqual(structuredClone((parse(out) as Record<string, unknown>)[name]), structuredClone(changed));
    const removed = setTable(text, name, undefined);
    assert.equal((parse(removed) as Record<string, unknown>)[name], undefined);
  }
  // Tables written in other shapes are replaced whole: the other content stays.
  for (const name of ['list', 'sp ace']) {
    const out = setTable(text, name, { type: 'new' });
    assert.deepEqual(structuredClone((parse(out) as Record<string, unknown>)[name]), { type: 'new' });
  }
  // A value change in [first] touches that line only.
  const out = setTable(text, 'first', { ...doc.first, type: 'x2' });
  assert.equal(out, text.replace('type = "x"', 'type = "x2"'));
});
