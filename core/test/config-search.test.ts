/**
 * The quick check that lets start-up skip loading cosmiconfig: it must say "maybe" wherever
 * cosmiconfig's 'project' search could find a file, and "no" only where it cannot.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, mayHaveConfigFile } from '../src/config/file.js';

test('mayHaveConfigFile follows cosmiconfig\'s project search', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pyrs-config-search-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const project = path.join(root, 'project');
  const deep = path.join(project, 'a', 'b');
  await mkdir(deep, { recursive: true });
  await writeFile(path.join(project, 'package.json'), '{"name":"x"}');

  assert.equal(mayHaveConfigFile(deep), false, 'no search place up to the package.json');
  assert.equal(await loadConfigFile({ cwd: deep }), undefined);

  // A file above the project root is not searched by cosmiconfig either.
  await writeFile(path.join(root, '.pyrestserverrc.json'), '{"backend":"local"}');
  assert.equal(mayHaveConfigFile(deep), false);
  assert.equal(await loadConfigFile({ cwd: deep }), undefined);

  await writeFile(path.join(project, 'a', 'pyrestserver.config.toml'), 'backend = "local"\n');
  assert.equal(mayHaveConfigFile(deep), true);
  assert.equal((await loadConfigFile({ cwd: deep }))?.config.backend, 'local');
  await rm(path.join(project, 'a', 'pyrestserver.config.toml'));

  await writeFile(path.join(project, 'package.json'), '{"name":"x","pyrestserver":{"backend":"drime"}}');
  assert.equal(mayHaveConfigFile(deep), true, 'the package.json key counts');
  assert.equal((await loadConfigFile({ cwd: deep }))?.config.backend, 'drime');

  await writeFile(path.join(project, 'package.json'), '{ broken');
  assert.equal(mayHaveConfigFile(deep), true, 'a broken package.json is left to cosmiconfig to report');
});
