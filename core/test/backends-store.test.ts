import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  addBackendConfig, configDir, editBackendConfig, findBackendConfig, getBackendConfig, listBackendConfigs,
  MASK, removeBackendConfig, showBackendConfig, type StoreOptions,
} from '../src/config/backends-store.js';
import { ConfigError } from '../src/errors.js';
import { pyObscure, pyReveal } from './vaultconfig.js';

/** A backend plugin package, installed in a temporary node_modules. */
const FAKE_PLUGIN = `export default {
  kind: 'pyrestserver-backend',
  apiVersion: 1,
  type: 'fake',
  optionsSchema: {
    type: 'object',
    properties: {
      path: { type: 'string' },
      api_key: { type: 'string', 'x-secret': true, 'x-env': 'FAKE_API_KEY', minLength: 4 },
      workspace_id: { type: 'integer', minimum: 0, default: 0 },
    },
    required: ['api_key'],
    additionalProperties: false,
  },
  create() { throw new Error('not used here'); },
};
`;

let root: string;
let plugins: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'pyrs-store-'));
  plugins = path.join(root, 'plugins');
  const pkg = path.join(plugins, 'node_modules', 'pyrestserver-backend-fake');
  await mkdir(pkg, { recursive: true });
  await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'pyrestserver-backend-fake', version: '1.0.0', type: 'module', main: 'index.js' }));
  await writeFile(path.join(pkg, 'index.js'), FAKE_PLUGIN);
  const scoped = path.join(plugins, 'node_modules', '@acme', 'pyrestserver-backend-s3');
  await mkdir(scoped, { recursive: true });
  await writeFile(path.join(scoped, 'package.json'), JSON.stringify({ name: '@acme/pyrestserver-backend-s3', version: '1.0.0', type: 'module', main: 'index.js' }));
  await writeFile(path.join(scoped, 'index.js'), FAKE_PLUGIN.replace("type: 'fake'", "type: 's3'"));
});
after(() => rm(root, { recursive: true, force: true }));

let count = 0;
/** A fresh config folder (not created yet) and the options pointing at it. */
function fresh(): StoreOptions & { dir: string } {
  return { dir: path.join(root, `config-${++count}`, 'pyrestserver'), searchPaths: [plugins], env: {} };
}

const backendsFile = (opts: { dir: string }) => path.join(opts.dir, 'backends.toml');

async function rejects(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('configDir: PYRESTSERVER_CONFIG_DIR, else $XDG_CONFIG_HOME/pyrestserver, else ~/.config/pyrestserver', () => {
  assert.equal(configDir({ PYRESTSERVER_CONFIG_DIR: '/etc/pyrs', XDG_CONFIG_HOME: '/x' }), '/etc/pyrs');
  assert.equal(configDir({ XDG_CONFIG_HOME: '/x' }), '/x/pyrestserver');
  assert.equal(configDir({ XDG_CONFIG_HOME: 'relative' }), path.join(os.homedir(), '.config', 'pyrestserver'));
  assert.equal(configDir({}), path.join(os.homedir(), '.config', 'pyrestserver'));
});

test('add writes one table with the secret obscured, file 0600 in a 0700 folder', async () => {
  const opts = fresh();
  const entry = await addBackendConfig('cloud', 'fake', { api_key: 'the-api-key', workspace_id: '5' }, opts);
  assert.equal(entry.file, backendsFile(opts));
  const text = await readFile(backendsFile(opts), 'utf8');
  const obscured = /^api_key = "([A-Za-z0-9_-]+)"$/m.exec(text)?.[1];
  assert.ok(obscured, text);
  assert.equal(text, `[cloud]\ntype = "fake"\napi_key = "${obscured}"\nworkspace_id = 5\n`);
  assert.ok(!text.includes('the-api-key'));
  assert.deepEqual(pyReveal([obscured]), ['the-api-key'], 'PyRestServer reads what we write');
  assert.equal((await stat(backendsFile(opts))).mode & 0o777, 0o600);
  assert.equal((await stat(opts.dir)).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(opts.dir), ['backends.toml'], 'no temporary file left');
  assert.deepEqual(await getBackendConfig('cloud', opts), { name: 'cloud', type: 'fake', options: { api_key: 'the-api-key', workspace_id: 5 } });
});

test('getBackendConfig reveals values obscured by PyRestServer; a secret typed in clear is used as written', async () => {
  const opts = fresh();
  const [obscured] = pyObscure(['python-key']);
  await mkdir(opts.dir, { recursive: true });
  await writeFile(backendsFile(opts), `[a]\ntype = "fake"\napi_key = "${obscured}"\n\n[b]\ntype = "fake"\napi_key = "typed in clear"\n`);
  assert.equal((await getBackendConfig('a', opts)).options.api_key, 'python-key');
  assert.equal((await getBackendConfig('b', opts)).options.api_key, 'typed in clear');
});

test('adding an existing name is refused unless forced', async () => {
  const opts = fresh();
  await addBackendConfig('x', 'fake', { api_key: 'first' }, opts);
  const before = await readFile(backendsFile(opts), 'utf8');
  await rejects(addBackendConfig('x', 'fake', { api_key: 'second' }, opts), 'PYRS_BACKEND_CONFIG_EXISTS', /"x" already exists/);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), before);
  await addBackendConfig('x', 'fake', { api_key: 'second', path: '/p' }, { ...opts, force: true });
  assert.deepEqual((await getBackendConfig('x', opts)).options, { api_key: 'second', path: '/p' });
});

test('schema errors name the flag and the key; nothing is written', async () => {
  const opts = fresh();
  await rejects(addBackendConfig('x', 'fake', { api_key: 'abcd', workspace_id: 'many' }, opts), 'PYRS_OPTIONS_INVALID', /--workspace-id: must be integer/);
  await rejects(addBackendConfig('x', 'fake', { api_key: 'abcd', colour: 'red' }, opts), 'PYRS_OPTIONS_INVALID', /no option colour/);
  const missing = await rejects(addBackendConfig('x', 'fake', {}, opts), 'PYRS_OPTIONS_INVALID', /api_key is required/);
  assert.match(missing.message, /FAKE_API_KEY/);
  const short = await rejects(addBackendConfig('x', 'fake', { api_key: 'abc' }, opts), 'PYRS_OPTIONS_INVALID', /--api-key/);
  assert.ok(!short.message.includes('"abc"'), 'a secret is not shown');
  await assert.rejects(stat(opts.dir), { code: 'ENOENT' });
});

test('a required option may come from its x-env variable; only what was given is stored', async () => {
  const opts = { ...fresh(), env: { FAKE_API_KEY: 'from-env' } };
  await addBackendConfig('e', 'fake', { path: '/data' }, opts);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), '[e]\ntype = "fake"\npath = "/data"\n');
});

test('an unknown type fails with the install hint', async () => {
  const err = await rejects(addBackendConfig('x', 'nope', {}, fresh()), 'PYRS_PLUGIN_NOT_FOUND');
  assert.match(err.hint ?? '', /npm i -g pyrestserver-backend-nope/);
});

test('invalid names are refused', async () => {
  for (const name of ['', '../evil', 'a b', '.hidden', 'a/b']) {
    await rejects(addBackendConfig(name, 'fake', { api_key: 'abcd' }, fresh()), 'PYRS_USAGE');
  }
});

const HAND_WRITTEN = (obscured: string) => `# Backends of this host.
# Keep the cloud one first.

[cloud]   # the team account
type = "fake"
api_key = "${obscured}"
# 7 is the team workspace
workspace_id = 7

[disk]
type = "fake"
api_key = "${obscured}"
path = "/srv/restic"
`;

test('edit changes only the lines it must: comments, order, other tables and unchanged secrets stay', async () => {
  const opts = fresh();
  const [obscured] = pyObscure(['team-key']);
  await mkdir(opts.dir, { recursive: true });
  await writeFile(backendsFile(opts), HAND_WRITTEN(obscured!));
  await editBackendConfig('cloud', { workspace_id: '9' }, opts);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), HAND_WRITTEN(obscured!).replace('workspace_id = 7', 'workspace_id = 9'));
  assert.equal((await stat(backendsFile(opts))).mode & 0o777, 0o600);

  await editBackendConfig('disk', { api_key: 'new-key', path: undefined }, opts);
  const text = await readFile(backendsFile(opts), 'utf8');
  const disk = text.slice(text.indexOf('[disk]'));
  const newObscured = /api_key = "([^"]+)"/.exec(disk)![1]!;
  assert.equal(text, HAND_WRITTEN(obscured!).replace('workspace_id = 7', 'workspace_id = 9').replace(
    `[disk]\ntype = "fake"\napi_key = "${obscured}"\npath = "/srv/restic"\n`,
    `[disk]\ntype = "fake"\napi_key = "${newObscured}"\n`,
  ));
  assert.deepEqual(pyReveal([newObscured]), ['new-key']);
});

test('edit validates the merged result; a stored value is named as such', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  const original = '[w]\ntype = "fake"\napi_key = "abcd"\nworkspace_id = -1\n';
  await writeFile(backendsFile(opts), original);
  await rejects(editBackendConfig('w', { path: '/x' }, opts), 'PYRS_OPTIONS_INVALID', /workspace_id in \[w\] of .*backends\.toml: must be >= 0/);
  await rejects(editBackendConfig('w', { workspace_id: 'x' }, opts), 'PYRS_OPTIONS_INVALID', /--workspace-id/);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), original);
  await rejects(editBackendConfig('nothere', { path: '/x' }, opts), 'PYRS_BACKEND_CONFIG_NOT_FOUND');
});

test('remove drops the table and its comments, keeps the rest', async () => {
  const opts = fresh();
  const [obscured] = pyObscure(['k-e-y']);
  await mkdir(opts.dir, { recursive: true });
  await writeFile(backendsFile(opts), HAND_WRITTEN(obscured!));
  assert.deepEqual(await removeBackendConfig('disk', opts), [backendsFile(opts)]);
  const text = await readFile(backendsFile(opts), 'utf8');
  assert.equal(text, HAND_WRITTEN(obscured!).slice(0, HAND_WRITTEN(obscured!).indexOf('\n[disk]') ));
  await rejects(removeBackendConfig('disk', opts), 'PYRS_BACKEND_CONFIG_NOT_FOUND');
  await rejects(findBackendConfig('disk', opts), 'PYRS_BACKEND_CONFIG_NOT_FOUND', /no backend configuration named "disk"/);
});

test('broken TOML: the error names the file, line and column, never the content; nothing changes', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  const broken = '[ok]\ntype = "fake"\napi_key = "plain-secret-value"\n\n[bad\ntype = "fake"\n';
  await writeFile(backendsFile(opts), broken);
  for (const attempt of [
    () => getBackendConfig('ok', opts),
    () => listBackendConfigs(opts),
    () => addBackendConfig('new', 'fake', { api_key: 'abcd' }, opts),
    () => editBackendConfig('ok', { path: '/p' }, opts),
    () => removeBackendConfig('ok', opts),
  ]) {
    const err = await rejects(attempt(), 'PYRS_CONFIG_FILE_INVALID');
    assert.ok(err.message.startsWith(`${backendsFile(opts)}: invalid TOML at line 5, column 5:`), err.message);
    assert.ok(!err.message.includes('plain-secret-value'));
  }
  assert.equal(await readFile(backendsFile(opts), 'utf8'), broken);
});

test('a table without a type is reported, not served', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  await writeFile(backendsFile(opts), '[good]\ntype = "fake"\napi_key = "abcd"\n\n[notype]\npath = "/x"\n');
  const { backends, problems } = await listBackendConfigs(opts);
  assert.deepEqual(backends.map((b) => b.name), ['good']);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.error.message, /\[notype\] in .*backends\.toml: "type" must be/);
  await rejects(getBackendConfig('notype', opts), 'PYRS_CONFIG_FILE_INVALID');
  await removeBackendConfig('notype', opts);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), '[good]\ntype = "fake"\napi_key = "abcd"\n');
});

test("PyRestServer's per-backend files are listed as legacy and served; backends.toml wins a shared name", async () => {
  const opts = fresh();
  const [obscured] = pyObscure(['legacy-key']);
  await mkdir(opts.dir, { recursive: true });
  await writeFile(path.join(opts.dir, 'old.toml'), `type = "fake"\napi_key = "${obscured}"\nworkspace_id = 3\n`);
  await writeFile(path.join(opts.dir, 'both.toml'), `type = "fake"\napi_key = "legacy"\n`);
  await writeFile(path.join(opts.dir, 'settings.toml'), `listen = ":8000"\n`); // another program's file: no type
  await writeFile(path.join(opts.dir, 'broken.toml'), `type = \n`);
  await writeFile(backendsFile(opts), '[both]\ntype = "fake"\napi_key = "new-one"\n');

  const { backends, problems } = await listBackendConfigs(opts);
  assert.deepEqual(backends.map((b) => [b.name, b.legacy]), [['both', false], ['old', true]]);
  assert.deepEqual(problems.map((p) => p.name), ['broken']);
  assert.match(problems[0]!.error.message, /broken\.toml: invalid TOML at line 1/);

  assert.deepEqual(await getBackendConfig('old', opts), { name: 'old', type: 'fake', options: { api_key: 'legacy-key', workspace_id: 3 } });
  assert.equal((await getBackendConfig('both', opts)).options.api_key, 'new-one');
  await rejects(getBackendConfig('broken', opts), 'PYRS_CONFIG_FILE_INVALID');
  await rejects(getBackendConfig('settings', opts), 'PYRS_BACKEND_CONFIG_NOT_FOUND');
  await rejects(addBackendConfig('old', 'fake', { api_key: 'abcd' }, opts), 'PYRS_BACKEND_CONFIG_EXISTS', /old\.toml/);
});

test('editing a legacy entry saves it to backends.toml; remove deletes the legacy file', async () => {
  const opts = fresh();
  const [obscured] = pyObscure(['legacy-key']);
  await mkdir(opts.dir, { recursive: true });
  const legacyText = `type = "fake"\napi_key = "${obscured}"\nworkspace_id = 3\n`;
  await writeFile(path.join(opts.dir, 'old.toml'), legacyText);
  await editBackendConfig('old', { workspace_id: '4' }, opts);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), `[old]\ntype = "fake"\napi_key = "${obscured}"\nworkspace_id = 4\n`);
  assert.equal(await readFile(path.join(opts.dir, 'old.toml'), 'utf8'), legacyText, 'the legacy file is left alone');
  assert.equal((await findBackendConfig('old', opts)).legacy, false);
  assert.deepEqual(await removeBackendConfig('old', opts), [backendsFile(opts), path.join(opts.dir, 'old.toml')]);
  assert.deepEqual((await listBackendConfigs(opts)).backends, []);
});

test('show masks secrets unless asked to reveal; an unloadable type masks by name', async () => {
  const opts = fresh();
  await addBackendConfig('s', 'fake', { api_key: 'shown-key', path: '/p' }, opts);
  const entry = await findBackendConfig('s', opts);
  assert.deepEqual((await showBackendConfig(entry, opts)).options, { api_key: MASK, path: '/p' });
  assert.deepEqual((await showBackendConfig(entry, { ...opts, reveal: true })).options, { api_key: 'shown-key', path: '/p' });
  const orphan = { ...entry, type: 'gone', options: { secret_token: 'x', password: 'y', region: 'eu' } };
  const shown = await showBackendConfig(orphan, opts);
  assert.deepEqual(shown.options, { secret_token: MASK, password: MASK, region: 'eu' });
  assert.equal(shown.pluginError?.code, 'PYRS_PLUGIN_NOT_FOUND');
});

test('a symlinked backends.toml is updated where it points, the link kept', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  const real = path.join(root, `dotfiles-${count}.toml`);
  await writeFile(real, '# managed elsewhere\n');
  await symlink(real, backendsFile(opts));
  await addBackendConfig('linked', 'fake', { api_key: 'abcd' }, opts);
  assert.ok((await lstat(backendsFile(opts))).isSymbolicLink());
  assert.match(await readFile(real, 'utf8'), /^# managed elsewhere\n\n\[linked\]\ntype = "fake"\n/);
  assert.deepEqual(await readdir(opts.dir), ['backends.toml']);
});

test('a name with a dot is a quoted table; --force replaces even a broken entry', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  await writeFile(backendsFile(opts), '[keep]\ntype = "fake"\napi_key = "abcd"\n\n["b.example"]\npath = "/no-type"\n');
  await rejects(addBackendConfig('b.example', 'fake', { api_key: 'abcd' }, opts), 'PYRS_CONFIG_FILE_INVALID', /\[b\.example\]/);
  await addBackendConfig('b.example', 'fake', { api_key: 'efgh' }, { ...opts, force: true });
  assert.equal((await getBackendConfig('b.example', opts)).options.api_key, 'efgh');
  await editBackendConfig('b.example', { path: '/p' }, opts);
  const text = await readFile(backendsFile(opts), 'utf8');
  assert.ok(text.startsWith('[keep]\ntype = "fake"\napi_key = "abcd"\n\n["b.example"]\ntype = "fake"\napi_key = "'), text);
  assert.ok(text.endsWith('"\npath = "/p"\n'), text);
  await removeBackendConfig('b.example', opts);
  assert.equal(await readFile(backendsFile(opts), 'utf8'), '[keep]\ntype = "fake"\napi_key = "abcd"\n');
});

test('concurrent adds and edits all land: commands take turns', async () => {
  const opts = fresh();
  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
  await Promise.all(names.map((name) => addBackendConfig(name, 'fake', { api_key: `key-${name}` }, opts)));
  await Promise.all(names.map((name, i) => editBackendConfig(name, { workspace_id: String(i) }, opts)));
  const { backends } = await listBackendConfigs(opts);
  assert.deepEqual(backends.map((b) => b.name).sort(), [...names].sort());
  for (const [i, name] of names.entries()) {
    assert.deepEqual(await getBackendConfig(name, opts), { name, type: 'fake', options: { api_key: `key-${name}`, workspace_id: i } });
  }
  assert.deepEqual(await readdir(opts.dir), ['backends.toml'], 'no lock or temporary file left');
});

test('a lock left by a command that died is taken over', async () => {
  const opts = fresh();
  await mkdir(opts.dir, { recursive: true });
  const lock = `${backendsFile(opts)}.lock`;
  await writeFile(lock, '');
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  await addBackendConfig('after-crash', 'fake', { api_key: 'abcd' }, opts);
  assert.deepEqual(await readdir(opts.dir), ['backends.toml']);
});

test('removing an unknown name changes nothing on disk, not even the folder', async () => {
  const opts = fresh();
  await rejects(removeBackendConfig('ghost', opts), 'PYRS_BACKEND_CONFIG_NOT_FOUND');
  await assert.rejects(stat(opts.dir), { code: 'ENOENT' });
});

test('the stored type loads the same plugin again: plain type, scoped package name, absolute path', async () => {
  const opts = { ...fresh(), cwd: plugins };
  assert.equal((await addBackendConfig('a', 'pyrestserver-backend-fake', { api_key: 'abcd' }, opts)).type, 'fake');
  assert.equal((await addBackendConfig('b', '@acme/s3', { api_key: 'abcd' }, opts)).type, '@acme/s3');
  const byPath = await addBackendConfig('c', './node_modules/pyrestserver-backend-fake', { api_key: 'abcd' }, opts);
  assert.equal(byPath.type, path.join(plugins, 'node_modules', 'pyrestserver-backend-fake'));
  for (const name of ['a', 'b', 'c']) {
    assert.equal((await getBackendConfig(name, { ...opts, cwd: os.tmpdir() })).options.api_key, 'abcd', name);
  }
});
