import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ConfigErrorCode, loadConfigFile } from '@pyrestserver/core';
import { tempDir, writeFiles } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
let n = 0;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-config-'));
});
after(() => cleanup());

/** A fresh project folder (with package.json, so the search stops there) holding `files`. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = path.join(root, `p${n++}`);
  await writeFiles(dir, { 'package.json': '{"name":"x"}', ...files });
  return dir;
}

const EXPECTED = {
  backend: 'drime',
  serve: { listen: ':9000', 'append-only': true, 'max-size': 1024 },
  backends: { drime: { workspace_id: 5 } },
};

describe('config file formats', () => {
  const cases: Record<string, string> = {
    'pyrestserver.config.toml': `backend = "drime"\n[serve]\nlisten = ":9000"\nappend-only = true\nmax_size = 1024\n[backends.drime]\nworkspace_id = 5\n`,
    'pyrestserver.config.json': JSON.stringify({ backend: 'drime', serve: { listen: ':9000', appendOnly: true, maxSize: 1024 }, backends: { drime: { workspace_id: 5 } } }),
    'pyrestserver.config.yaml': `backend: drime\nserve:\n  listen: ":9000"\n  append-only: true\n  max-size: 1024\nbackends:\n  drime:\n    workspace_id: 5\n`,
    '.pyrestserverrc': `backend: drime\nserve: { listen: ":9000", appendOnly: true, maxSize: 1024 }\nbackends: { drime: { workspace_id: 5 } }\n`,
    '.pyrestserverrc.toml': `backend = "drime"\nserve = { listen = ":9000", append-only = true, max-size = 1024 }\nbackends = { drime = { workspace_id = 5 } }\n`,
    'pyrestserver.config.mjs': `export default ${JSON.stringify(EXPECTED)};\n`,
    '.pyrestserverrc.cjs': `module.exports = ${JSON.stringify(EXPECTED)};\n`,
    // TypeScript: imported as is (these tests run with the tsx loader, as `node --import tsx` would).
    'pyrestserver.config.ts': `const config: Record<string, unknown> = ${JSON.stringify(EXPECTED)};\nexport default config;\n`,
  };
  for (const [file, content] of Object.entries(cases)) {
    test(`${file} is found and normalised`, async () => {
      const dir = await project({ [file]: content });
      const loaded = await loadConfigFile({ cwd: dir });
      assert.equal(loaded?.filepath, path.join(dir, file));
      assert.deepEqual(loaded?.config, EXPECTED);
    });
  }

  test('the pyrestserver key of package.json', async () => {
    const dir = path.join(root, `p${n++}`);
    await writeFiles(dir, { 'package.json': JSON.stringify({ name: 'x', pyrestserver: EXPECTED }) });
    const loaded = await loadConfigFile({ cwd: dir });
    assert.equal(loaded?.filepath, path.join(dir, 'package.json'));
    assert.deepEqual(loaded?.config, EXPECTED);
  });

  test('found from a sub-folder of the project; none at all is undefined', async () => {
    const dir = await project({ 'pyrestserver.config.json': '{"backend":"local"}' });
    await mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    assert.equal((await loadConfigFile({ cwd: path.join(dir, 'a', 'b') }))?.config.backend, 'local');
    assert.equal(await loadConfigFile({ cwd: await project({}) }), undefined);
  });

  test('pyrestserver.config.* wins over .pyrestserverrc* and package.json', async () => {
    const dir = await project({
      'pyrestserver.config.toml': 'backend = "first"\n',
      '.pyrestserverrc.json': '{"backend":"second"}',
    });
    assert.equal((await loadConfigFile({ cwd: dir }))?.config.backend, 'first');
  });

  test('--config FILE, relative to cwd, any name', async () => {
    const dir = await project({ 'etc/my-server.toml': 'backend = "named"\n[users.alice]\nappend_only = true\nmax-size = 10\n' });
    const loaded = await loadConfigFile({ cwd: dir, file: 'etc/my-server.toml' });
    assert.equal(loaded?.config.backend, 'named');
    assert.deepEqual(loaded?.config.users, { alice: { appendOnly: true, maxSize: 10 } });
  });
});

describe('broken config files', () => {
  const broken = async (files: Record<string, string>, file: string | undefined, ...parts: (string | RegExp)[]) => {
    const dir = await project(files);
    await assert.rejects(loadConfigFile({ cwd: dir, ...(file ? { file } : {}) }), (err: Error & { code: string }) => {
      assert.equal(err.code, ConfigErrorCode.CONFIG_FILE_INVALID, err.message);
      for (const part of parts) {
        if (typeof part === 'string') assert.ok(err.message.includes(part.replace('DIR', dir)), `${part} not in ${err.message}`);
        else assert.match(err.message, part);
      }
      return true;
    });
  };

  test('TOML syntax error: file, line and column', () =>
    broken({ 'pyrestserver.config.toml': 'backend = "x"\nlisten = = 3\n' }, undefined, 'DIR/pyrestserver.config.toml:2:'));

  test('JSON syntax error: file, line and column', async () => {
    await broken({ '.pyrestserverrc.json': '{\n  "backend": "x",\n  "serve": { "listen" 1 }\n}' }, undefined, 'DIR/.pyrestserverrc.json:3:');
    // An unexpected token, which V8 reports with the text around it instead of a position.
    await broken({ 'pyrestserver.config.json': '{\n  "backend": "x",\n  "serve": { "listen": oops }\n}' }, undefined, 'DIR/pyrestserver.config.json:3:24: Unexpected token');
  });

  test('YAML syntax error: file, line and column', () =>
    broken({ 'pyrestserver.config.yaml': 'backend: x\n  serve: [\n' }, undefined, 'DIR/pyrestserver.config.yaml:2:'));

  test('syntax errors never quote the file (it may hold secrets)', async () => {
    for (const [file, text] of [
      ['pyrestserver.config.toml', '[backends.drime]\napi_key = "s3cr3t-value"\nx = = 1\n'],
      ['.pyrestserverrc.json', '{"backends": {"drime": {"api_key": "s3cr3t-value" }}}}'],
      // An unexpected token: V8 quotes the text around it ("...\"api_key\": s3cr3t...").
      ['pyrestserver.config.json', '{"backends": {"drime": {"api_key": s3cr3t-value, "workspace_id": 5}}}'],
      ['pyrestserver.config.json', '{"api_key": s3cr3t}'],
      ['pyrestserver.config.yaml', 'backends:\n  drime:\n    api_key: s3cr3t-value\n   x: [\n'],
    ]) {
      const dir = await project({ [file!]: text! });
      await assert.rejects(loadConfigFile({ cwd: dir }), (err: Error) => {
        assert.ok(err.message.includes(file!), err.message);
        assert.ok(!err.message.includes('s3cr3t'), err.message);
        return true;
      });
    }
  });

  test('a file that throws', () =>
    broken({ 'pyrestserver.config.mjs': 'throw new Error("nope from js");\n' }, undefined, 'DIR/pyrestserver.config.mjs', 'nope from js'));

  test('unknown keys and wrong types name the key and the file', () =>
    broken(
      { 'pyrestserver.config.toml': 'backnd = "x"\nplugins = "one"\n[users.bob]\nmaxSize = "lots"\nquota = 1\n' },
      undefined,
      'DIR/pyrestserver.config.toml',
      'backnd: is not a known key',
      'plugins: must be array',
      'users.bob.maxSize: must be bytes or a size such as 500MiB',
      'users.bob.quota: is not a known key',
    ));

  test('--config naming a file that does not exist', () => broken({}, 'missing.toml', 'missing.toml', 'ENOENT'));
});
