import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  ConfigErrorCode, findBackends, loadBackend, packageNameFor, secretKeys, validateOptions, describeOptions, RESERVED_OPTION_NAMES,
} from '@pyrestserver/core';
import { SERVE_FLAGS } from '../src/serve/flags.js';
import { DEMO_SCHEMA, tempDir, writeFiles, writePlugin } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let nm: string;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-plugins-'));
  nm = path.join(root, 'project', 'node_modules');
});
after(() => cleanup());

const rejectsWith = async (promise: Promise<unknown>, code: string, ...parts: (string | RegExp)[]) => {
  await assert.rejects(promise, (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, code, err.message);
    const text = `${err.message}\n${err.hint ?? ''}`;
    for (const part of parts) {
      if (typeof part === 'string') assert.ok(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
      else assert.match(text, part);
    }
    return true;
  });
};

describe('backend names', () => {
  test('a type, a scoped type and full package names map to npm packages', () => {
    assert.equal(packageNameFor('drime'), 'pyrestserver-backend-drime');
    assert.equal(packageNameFor('@acme/s3'), '@acme/pyrestserver-backend-s3');
    assert.equal(packageNameFor('pyrestserver-backend-drime'), 'pyrestserver-backend-drime');
    assert.equal(packageNameFor('@acme/pyrestserver-backend-s3'), '@acme/pyrestserver-backend-s3');
  });

  test('a name npm would refuse is a usage error', () => {
    assert.throws(() => packageNameFor('no spaces'), { code: ConfigErrorCode.USAGE });
  });
});

describe('loadBackend', () => {
  test('finds an ESM plugin by type in node_modules of a search path, with version and location', async () => {
    const dir = await writePlugin(nm, { name: 'pyrestserver-backend-demo', version: '2.0.1' });
    const loaded = await loadBackend('demo', { searchPaths: [path.join(root, 'project', 'sub')] });
    assert.equal(loaded.plugin.type, 'demo');
    assert.equal(loaded.packageName, 'pyrestserver-backend-demo');
    assert.equal(loaded.version, '2.0.1');
    assert.equal(loaded.location, dir);
  });

  test('finds a scoped plugin and a CommonJS plugin (module.exports and exports.default)', async () => {
    await writePlugin(nm, { name: '@acme/pyrestserver-backend-scoped' });
    await writePlugin(nm, { name: 'pyrestserver-backend-cjs', cjs: true });
    await writePlugin(nm, {
      name: 'pyrestserver-backend-cjsdefault',
      cjs: true,
      source: `Object.defineProperty(exports, '__esModule', { value: true });
exports.default = { kind: 'pyrestserver-backend', apiVersion: 1, type: 'cjsdefault',
  optionsSchema: { type: 'object', properties: {} }, create() { return {}; } };\n`,
    });
    const searchPaths = [root + '/project'];
    assert.equal((await loadBackend('@acme/scoped', { searchPaths })).plugin.type, 'scoped');
    assert.equal((await loadBackend('cjs', { searchPaths })).plugin.type, 'cjs');
    assert.equal((await loadBackend('pyrestserver-backend-cjsdefault', { searchPaths })).plugin.type, 'cjsdefault');
  });

  test('uses package.json exports (import condition) over main', async () => {
    await writePlugin(nm, {
      name: 'pyrestserver-backend-exp',
      manifest: { main: 'wrong.js', exports: { '.': { require: './wrong.js', import: './right.js' } } },
      extraFiles: {
        'right.js': `export default { kind: 'pyrestserver-backend', apiVersion: 1, type: 'exp', optionsSchema: { type: 'object', properties: {} }, create() {} };\n`,
        'wrong.js': 'throw new Error("wrong entry");\n',
      },
    });
    assert.equal((await loadBackend('exp', { searchPaths: [root + '/project'] })).plugin.type, 'exp');
  });

  test('takes a path as given, relative to cwd: a package folder or an entry file', async () => {
    const dir = await writePlugin(path.join(root, 'local-plugins'), { name: 'pyrestserver-backend-bypath' });
    assert.equal((await loadBackend('./local-plugins/pyrestserver-backend-bypath', { cwd: root })).plugin.type, 'bypath');
    assert.equal((await loadBackend(path.join(dir, 'index.js'))).plugin.type, 'bypath');
  });

  test('the first search path that has the package wins', async () => {
    const first = path.join(root, 'first');
    await writePlugin(path.join(first, 'node_modules'), { name: 'pyrestserver-backend-twice', version: '1.0.0' });
    await writePlugin(path.join(root, 'second', 'node_modules'), { name: 'pyrestserver-backend-twice', version: '9.0.0' });
    const loaded = await loadBackend('twice', { searchPaths: [first, path.join(root, 'second')] });
    assert.equal(loaded.version, '1.0.0');
  });

  test('a missing plugin: PLUGIN_NOT_FOUND naming the package, every place looked and the install hint', async () => {
    const a = path.join(root, 'nowhere-a');
    await rejectsWith(
      loadBackend('nope', { searchPaths: [a] }),
      ConfigErrorCode.PLUGIN_NOT_FOUND,
      'pyrestserver-backend-nope',
      path.join(a, 'node_modules'),
      path.join(root, 'node_modules'),
      'npm i -g pyrestserver-backend-nope',
    );
    await rejectsWith(loadBackend('@acme/nope', { searchPaths: [a] }), ConfigErrorCode.PLUGIN_NOT_FOUND, 'npm i -g @acme/pyrestserver-backend-nope');
    await rejectsWith(loadBackend('./not-here', { cwd: root }), ConfigErrorCode.PLUGIN_NOT_FOUND, path.join(root, 'not-here'));
  });

  test('a plugin whose own dependency is missing: PLUGIN_DEPENDENCY_MISSING naming the dependency', async () => {
    await writePlugin(nm, {
      name: 'pyrestserver-backend-needy',
      source: `import 'left-pad-for-pyrs';\nexport default {};\n`,
    });
    await rejectsWith(
      loadBackend('needy', { searchPaths: [root + '/project'] }),
      ConfigErrorCode.PLUGIN_DEPENDENCY_MISSING,
      'needs the package left-pad-for-pyrs',
      'pyrestserver-backend-needy',
    );
    await writePlugin(nm, { name: 'pyrestserver-backend-needycjs', cjs: true, source: `require('@scope-x/dep/sub');\n` });
    await rejectsWith(loadBackend('needycjs', { searchPaths: [root + '/project'] }), ConfigErrorCode.PLUGIN_DEPENDENCY_MISSING, '@scope-x/dep');
  });

  test('an entry file that does not exist: PLUGIN_INVALID saying so', async () => {
    await writeFiles(path.join(nm, 'pyrestserver-backend-unbuilt'), {
      'package.json': JSON.stringify({ name: 'pyrestserver-backend-unbuilt', version: '1.0.0', type: 'module', main: 'dist/index.js' }),
    });
    await rejectsWith(loadBackend('unbuilt', { searchPaths: [root + '/project'] }), ConfigErrorCode.PLUGIN_INVALID, 'dist/index.js', 'built');
  });

  test('not a backend: PLUGIN_INVALID saying what was found', async () => {
    const searchPaths = [root + '/project'];
    await writePlugin(nm, { name: 'pyrestserver-backend-named', source: 'export const a = 1;\nexport function b() {}\n' });
    await rejectsWith(loadBackend('named', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, 'no default export', 'a, b');
    await writePlugin(nm, { name: 'pyrestserver-backend-fn', source: 'export default function makeIt() {}\n' });
    await rejectsWith(loadBackend('fn', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, 'a function (makeIt)');
    await writePlugin(nm, { name: 'pyrestserver-backend-obj', source: 'export default { type: "obj", create() {} };\n' });
    await rejectsWith(loadBackend('obj', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, 'keys type, create', 'defineBackend');
    await writePlugin(nm, { name: 'pyrestserver-backend-nocreate', create: '', source: `export default { kind: 'pyrestserver-backend', apiVersion: 1, type: 'nocreate', optionsSchema: { type: 'object', properties: {} } };\n` });
    await rejectsWith(loadBackend('nocreate', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, 'create is undefined');
    await writePlugin(nm, { name: 'pyrestserver-backend-throws', source: 'throw new Error("boom at load");\n' });
    await rejectsWith(loadBackend('throws', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, 'boom at load');
  });

  test('a package.json that is not a JSON object, or cannot be read: PLUGIN_INVALID naming the file, not "not installed"', async () => {
    const searchPaths = [root + '/project'];
    for (const [name, text] of [['nullmanifest', 'null'], ['arraymanifest', '[]'], ['badjson', '{ "name": "x", }']] as const) {
      await writeFiles(path.join(nm, `pyrestserver-backend-${name}`), { 'package.json': text, 'index.js': 'export default {};\n' });
      await rejectsWith(loadBackend(name, { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, path.join(nm, `pyrestserver-backend-${name}`, 'package.json'));
    }
    await writeFiles(path.join(nm, 'pyrestserver-backend-dirmanifest'), { 'package.json/oops': '' });
    await rejectsWith(loadBackend('dirmanifest', { searchPaths }), ConfigErrorCode.PLUGIN_INVALID, path.join(nm, 'pyrestserver-backend-dirmanifest', 'package.json'));
  });

  test('a folder without package.json given as --backend: PLUGIN_INVALID with a hint; a relative path needs ./', async () => {
    await writeFiles(path.join(root, 'bare plugin'), { 'index.js': 'export default {};\n' });
    await rejectsWith(loadBackend('./bare plugin', { cwd: root }), ConfigErrorCode.PLUGIN_INVALID, 'has no package.json', 'entry file');
    await rejectsWith(loadBackend('bare plugin/index.js', { cwd: root }), ConfigErrorCode.USAGE, './bare plugin/index.js');
  });

  test('a plugin for another API version: PLUGIN_API_VERSION naming both versions', async () => {
    await writePlugin(nm, {
      name: 'pyrestserver-backend-future',
      source: `export default { kind: 'pyrestserver-backend', apiVersion: 7, type: 'future', optionsSchema: { type: 'object', properties: {} }, create() {} };\n`,
    });
    await rejectsWith(loadBackend('future', { searchPaths: [root + '/project'] }), ConfigErrorCode.PLUGIN_API_VERSION, 'version 7', 'version 1');
  });

  test('a schema ajv rejects, or with option names that are not snake_case: PLUGIN_SCHEMA_INVALID', async () => {
    const searchPaths = [root + '/project'];
    await writePlugin(nm, { name: 'pyrestserver-backend-typo', schema: { type: 'object', properties: { a: { type: 'string', defualt: 'x' } } } });
    await rejectsWith(loadBackend('typo', { searchPaths }), ConfigErrorCode.PLUGIN_SCHEMA_INVALID, 'defualt');
    await writePlugin(nm, { name: 'pyrestserver-backend-badtype', schema: { type: 'object', properties: { a: { type: 'text' } } } });
    await rejectsWith(loadBackend('badtype', { searchPaths }), ConfigErrorCode.PLUGIN_SCHEMA_INVALID, 'badtype');
    await writePlugin(nm, { name: 'pyrestserver-backend-camel', schema: { type: 'object', properties: { apiKey: { type: 'string' } } } });
    await rejectsWith(loadBackend('camel', { searchPaths }), ConfigErrorCode.PLUGIN_SCHEMA_INVALID, 'apiKey', 'snake_case');
    await writePlugin(nm, { name: 'pyrestserver-backend-notobj', schema: { type: 'array' } });
    await rejectsWith(loadBackend('notobj', { searchPaths }), ConfigErrorCode.PLUGIN_SCHEMA_INVALID, 'type "object"');
  });

  test('standard JSON Schema formats work (uri, email, ...); an unknown format is PLUGIN_SCHEMA_INVALID', async () => {
    const searchPaths = [root + '/project'];
    await writePlugin(nm, {
      name: 'pyrestserver-backend-formats',
      schema: { type: 'object', properties: { endpoint: { type: 'string', format: 'uri' }, contact: { type: 'string', format: 'email' } } },
    });
    const { plugin } = await loadBackend('formats', { searchPaths });
    assert.deepEqual(validateOptions(plugin, { endpoint: 'https://s3.example.com:9000/', contact: 'ops@example.com' }), {
      endpoint: 'https://s3.example.com:9000/', contact: 'ops@example.com',
    });
    await rejectsWith(
      (async () => validateOptions(plugin, { endpoint: 'not a uri' }, { source: { endpoint: '--endpoint' } }))(),
      ConfigErrorCode.OPTIONS_INVALID, '--endpoint: must match format "uri"',
    );
    await writePlugin(nm, { name: 'pyrestserver-backend-badformat', schema: { type: 'object', properties: { a: { type: 'string', format: 'colour' } } } });
    await rejectsWith(loadBackend('badformat', { searchPaths }), ConfigErrorCode.PLUGIN_SCHEMA_INVALID, 'unknown format "colour"');
  });

  test('an option named like a core flag (listen, tls, auth for --no-auth, ...) is PLUGIN_OPTION_RESERVED', async () => {
    const searchPaths = [root + '/project'];
    for (const key of ['listen', 'tls', 'auth', 'max_size', 'json']) {
      await writePlugin(nm, { name: `pyrestserver-backend-res-${key.replace('_', '-')}`, schema: { type: 'object', properties: { [key]: { type: 'string' } } } });
      await rejectsWith(
        loadBackend(`res-${key.replace('_', '-')}`, { searchPaths }),
        ConfigErrorCode.PLUGIN_OPTION_RESERVED, `option ${key}`, `--${key.replace('_', '-')}`, 'Reserved names: listen,',
      );
    }
    // --path is meant to feed a backend's own path option (the local backend's).
    await writePlugin(nm, { name: 'pyrestserver-backend-haspath', schema: { type: 'object', properties: { path: { type: 'string' } } } });
    assert.equal((await loadBackend('haspath', { searchPaths })).plugin.type, 'haspath');
  });

  test('every serve flag (but --path) and its --no- form is reserved, so a new flag cannot be shadowed', () => {
    const snake = (name: string) => name.replace(/-/g, '_');
    for (const flag of SERVE_FLAGS) {
      if (flag.name === 'path') continue;
      assert.ok(RESERVED_OPTION_NAMES.includes(snake(flag.name)), `${flag.name} is reserved`);
      if (flag.kind === 'boolean' && flag.name.startsWith('no-')) assert.ok(RESERVED_OPTION_NAMES.includes(snake(flag.name.slice(3))));
    }
  });
});

describe('findBackends', () => {
  test('lists backend packages of every search path, first of each name wins, broken ones reported', async () => {
    const { dir, cleanup: done } = await tempDir('pyrs-find-');
    try {
      await writePlugin(path.join(dir, 'a', 'node_modules'), { name: 'pyrestserver-backend-one', version: '1.0.0' });
      await writePlugin(path.join(dir, 'a', 'node_modules'), { name: '@x/pyrestserver-backend-two' });
      await writeFiles(path.join(dir, 'a', 'node_modules', 'not-a-backend'), { 'package.json': '{"name":"not-a-backend"}' });
      await writePlugin(path.join(dir, 'b', 'node_modules'), { name: 'pyrestserver-backend-one', version: '5.0.0' });
      await writePlugin(path.join(dir, 'b', 'node_modules'), { name: 'pyrestserver-backend-broken', source: 'export default 42;\n' });
      const errors: string[] = [];
      const found = await findBackends({
        searchPaths: [path.join(dir, 'a'), path.join(dir, 'b')],
        onError: (name, _where, err) => errors.push(`${name}: ${(err as { code: string }).code}`),
      });
      assert.deepEqual(found.map((b) => `${b.packageName}@${b.version}`).sort(), [
        '@x/pyrestserver-backend-two@1.2.3',
        'pyrestserver-backend-one@1.0.0',
      ]);
      assert.deepEqual(errors, [`pyrestserver-backend-broken: ${ConfigErrorCode.PLUGIN_INVALID}`]);
    } finally {
      await done();
    }
  });
});

describe('options', () => {
  const plugin = {
    kind: 'pyrestserver-backend' as const, apiVersion: 1, type: 'demo',
    optionsSchema: DEMO_SCHEMA as never, create: () => ({}) as never,
  };

  test('defaults applied, integers coerced from strings, strings kept as typed', () => {
    const options = validateOptions(plugin, { api_key: '0123', workspace_id: '007', retries: '8' });
    assert.deepEqual(options, { api_key: '0123', workspace_id: '007', retries: 8, fast: false });
  });

  test('errors name where each value came from and what was expected, never a secret value', () => {
    assert.throws(
      () => validateOptions(plugin, { api_key: 12345678, retries: 'many', color: 'red' }, {
        source: { retries: '--retries', color: 'backends.demo.color in /etc/x.toml', api_key: 'DEMO_API_KEY' },
      }),
      (err: Error & { code: string }) => {
        assert.equal(err.code, ConfigErrorCode.OPTIONS_INVALID);
        assert.match(err.message, /--retries: must be integer \(got "many"\)/);
        assert.match(err.message, /backends\.demo\.color in \/etc\/x\.toml: the demo backend has no option color/);
        return true;
      },
    );
    assert.throws(() => validateOptions(plugin, { api_key: ['secret-value-1'] }, { source: { api_key: 'DEMO_API_KEY' } }), (err: Error) => {
      assert.match(err.message, /DEMO_API_KEY: must be string/);
      assert.ok(!err.message.includes('secret-value-1'));
      return true;
    });
  });

  test('a missing required option says every way to set it', () => {
    assert.throws(() => validateOptions(plugin, {}), (err: Error) => {
      assert.match(err.message, /option api_key is required: set --api-key or DEMO_API_KEY or "api_key" under backends\.demo/);
      return true;
    });
  });

  test('secretKeys and describeOptions read the annotations', () => {
    assert.deepEqual(secretKeys(plugin.optionsSchema), ['api_key']);
    const described = describeOptions(plugin.optionsSchema);
    assert.deepEqual(described[0], {
      key: 'api_key', flag: '--api-key', type: 'string', valueText: 'string', required: true, secret: true, env: 'DEMO_API_KEY', description: 'the API key',
    });
    assert.equal(described[2]!.default, 3);
  });
});
