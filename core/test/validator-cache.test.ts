import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedValidator } from '../src/plugins/validator-cache.js';

const SCHEMA = {
  type: 'object',
  properties: {
    path: { type: 'string', minLength: 1, default: '/srv/restic' },
    connections: { type: 'integer', minimum: 1, default: 8 },
    endpoint: { type: 'string', format: 'uri' },
    mode: { enum: ['a', 'b'] },
    api_key: { type: 'string', 'x-secret': true, 'x-env': 'X_KEY' },
  },
  required: ['path'],
  additionalProperties: false,
};

const INPUTS: unknown[] = [
  {},
  { path: '/x', connections: '16' },
  { path: '', connections: 0 },
  { path: '/x', endpoint: 'not a uri at all' },
  { path: '/x', endpoint: 'https://s3.example.com' },
  { path: '/x', mode: 'c', extra: 1 },
];

/** What a validator makes of each input: the verdict, the input after defaults and coercion, the errors. */
function outcomes(validate: ReturnType<typeof cachedValidator>) {
  return INPUTS.map((input) => {
    const data = structuredClone(input);
    const ok = validate(data);
    return { ok, data, errors: (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`) };
  });
}

describe('option validators cached as code', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  const dir = () => path.join(home, 'pyrestserver', 'validators');
  before(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'pyrs-vcache-'));
    env = { XDG_CACHE_HOME: home };
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('a validator loaded from the cache checks, fills in and coerces exactly as a compiled one', async () => {
    const compiled = outcomes(cachedValidator(SCHEMA, { PYRESTSERVER_NO_CACHE: '1' }));
    const first = outcomes(cachedValidator(SCHEMA, env)); // compiles and saves
    const files = await readdir(dir());
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^[0-9a-f]{32}\.cjs$/);
    const fromCache = outcomes(cachedValidator(SCHEMA, env));
    assert.deepEqual(first, compiled);
    assert.deepEqual(fromCache, compiled);
    assert.equal(compiled[1]!.ok, true);
    assert.deepEqual(compiled[1]!.data, { path: '/x', connections: 16 });
    assert.equal(compiled[3]!.ok, false);
    // And it is the file that is used: a (trusted) file of our own making is what comes back.
    const target = path.join(dir(), files[0]!);
    const saved = await readFile(target, 'utf8');
    await writeFile(target, 'module.exports = function fromTheCache() { return true; };', { mode: 0o600 });
    assert.equal(cachedValidator(SCHEMA, env).name, 'fromTheCache');
    await writeFile(target, saved);
  });

  it('a cached file others can write to is never run; a broken one is compiled over', async () => {
    const [file] = await readdir(dir());
    const target = path.join(dir(), file!);
    const marker = '__pyrsValidatorCacheRan';
    await writeFile(target, `globalThis.${marker} = true; module.exports = () => true;`);
    await chmod(target, 0o666);
    assert.deepEqual(outcomes(cachedValidator(SCHEMA, env)), outcomes(cachedValidator(SCHEMA, { PYRESTSERVER_NO_CACHE: '1' })));
    assert.equal((globalThis as Record<string, unknown>)[marker], undefined, 'the untrusted file was run');
    // Saved again (0600) by that compile; now make it ours but broken.
    await chmod(target, 0o600);
    await writeFile(target, 'this is not JavaScript {');
    assert.equal(cachedValidator(SCHEMA, env)({ path: '' }), false);
  });

  it('works without a usable cache folder (no home, a file where the folder would be)', async () => {
    const blocked = path.join(home, 'blocked');
    await writeFile(blocked, 'x');
    const validate = cachedValidator(SCHEMA, { XDG_CACHE_HOME: blocked });
    assert.equal(validate({ path: '/x' }), true);
  });
});
