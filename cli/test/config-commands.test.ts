import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, tempDir, writePlugin, type RunResult } from './helpers.js';
import { runConfig } from '../src/commands/config.js';
import { formatError } from '../src/errors.js';
import { pyObscure, pyReveal } from '../../core/test/vaultconfig.js';

// The fixture backend `demo` (helpers' DEMO_SCHEMA): api_key (x-secret, x-env DEMO_API_KEY, required),
// workspace_id (string), retries (integer >= 0), fast (boolean).
let root: string;
let cleanup: () => Promise<void>;
let project: string;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-config-'));
  project = path.join(root, 'project');
  await writePlugin(path.join(project, 'node_modules'), { name: 'pyrestserver-backend-demo' });
});
after(() => cleanup());

/** `config ...` in this process, with the exit code and output the CLI would give (main's error handling). */
async function inProcess(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io = { env, cwd: project, out: (text: string) => { stdout += text; }, err: (line: string) => { stderr += `${line}\n`; } };
  try {
    return { code: await runConfig(args, io), stdout, stderr };
  } catch (err) {
    for (const line of formatError(err)) io.err(line);
    return { code: (err as { code?: string }).code === 'PYRS_USAGE' ? 2 : 1, stdout, stderr };
  }
}

let count = 0;
/** A fresh, not yet existing config folder, and `config ...` run against it (in process; spawned with `spawned`). */
function fresh({ spawned = false } = {}) {
  const dir = path.join(root, `home-${++count}`, 'pyrestserver');
  const file = path.join(dir, 'backends.toml');
  const config = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> => spawned
    ? runCli(['config', ...args], { cwd: project, env: { PYRESTSERVER_CONFIG_DIR: dir, ...env } })
    : inProcess(args, { PYRESTSERVER_CONFIG_DIR: dir, ...env });
  return { dir, file, config };
}

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return result;
}

test('add (the real command line): options from flags, secret obscured (PyRestServer reads it), values typed by the schema, 0600 file in 0700 folder', async () => {
  const { dir, file, config } = fresh({ spawned: true });
  const result = ok(await config(['add', 'cloud', '--type', 'demo', '--api-key', 's3cr3t-key', '--workspace-id', '0123', '--retries', '5', '--fast']));
  assert.match(result.stdout, /Saved backend "cloud" \(demo\) to .*backends\.toml/);
  const text = await readFile(file, 'utf8');
  const obscured = /^api_key = "([A-Za-z0-9_-]+)"$/m.exec(text)?.[1];
  assert.ok(obscured, text);
  assert.equal(text, `[cloud]\ntype = "demo"\napi_key = "${obscured}"\nworkspace_id = "0123"\nretries = 5\nfast = true\n`);
  assert.deepEqual(pyReveal([obscured]), ['s3cr3t-key']);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(dir), ['backends.toml']);
});

test('list and show mask secrets; show --reveal and --json', async () => {
  const { config } = fresh();
  ok(await config(['add', 'cloud', '--type', 'demo', '--api-key', 'visible-only-with-reveal']));
  ok(await config(['add', 'other', '--type', 'demo', '--api-key', 'second-key', '--workspace-id', '7']));

  const list = ok(await config(['list']));
  assert.equal(list.stdout, 'NAME   TYPE  OPTIONS\ncloud  demo  api_key=********\nother  demo  api_key=******** workspace_id=7\n');
  const json = JSON.parse(ok(await config(['list', '--json'])).stdout) as { backends: { name: string; options: Record<string, unknown> }[] };
  assert.deepEqual(json.backends.map((b) => [b.name, b.options]), [['cloud', { api_key: '********' }], ['other', { api_key: '********', workspace_id: '7' }]]);

  const masked = ok(await config(['show', 'cloud']));
  assert.match(masked.stdout, /^# .*backends\.toml \(secrets masked; --reveal shows them\)\n\[cloud\]\ntype = "demo"\napi_key = "\*{8}"\n$/);
  for (const r of [list, masked]) assert.ok(!r.stdout.includes('visible-only-with-reveal') && !r.stderr.includes('visible-only-with-reveal'));

  assert.match(ok(await config(['show', 'cloud', '--reveal'])).stdout, /^api_key = "visible-only-with-reveal"$/m);
  const shown = JSON.parse(ok(await config(['show', 'other', '--json', '--reveal'])).stdout);
  assert.deepEqual(shown.options, { api_key: 'second-key', workspace_id: '7' });
  assert.equal(shown.type, 'demo');
  assert.equal(shown.legacy, false);
});

test('an existing name is refused unless --force', async () => {
  const { file, config } = fresh();
  ok(await config(['add', 'x', '--type', 'demo', '--api-key', 'first']));
  const before = await readFile(file, 'utf8');
  const refused = await config(['add', 'x', '--type', 'demo', '--api-key', 'second']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\[PYRS_BACKEND_CONFIG_EXISTS\].*"x" already exists/);
  assert.equal(await readFile(file, 'utf8'), before);
  ok(await config(['add', 'x', '--type', 'demo', '--api-key', 'second', '--retries', '1', '--force']));
  assert.match(ok(await config(['show', 'x', '--reveal'])).stdout, /api_key = "second"\nretries = 1\n$/);
});

test('bad input: unknown type gives the install hint, schema errors name the flag, unknown flags are usage errors; nothing written', async () => {
  const { dir, config } = fresh();
  const unknownType = await config(['add', 'x', '--type', 'nope', '--api-key', 'k']);
  assert.equal(unknownType.code, 1);
  assert.match(unknownType.stderr, /\[PYRS_PLUGIN_NOT_FOUND\]/);
  assert.match(unknownType.stderr, /npm i -g pyrestserver-backend-nope/);

  const badValue = await config(['add', 'x', '--type', 'demo', '--api-key', 'k', '--retries', 'many']);
  assert.equal(badValue.code, 1);
  assert.match(badValue.stderr, /\[PYRS_OPTIONS_INVALID\][\s\S]*--retries: must be integer/);

  const missing = await config(['add', 'x', '--type', 'demo']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /api_key is required: set --api-key or DEMO_API_KEY/);

  const unknownFlag = await config(['add', 'x', '--type', 'demo', '--api-key', 'k', '--colour', 'red']);
  assert.equal(unknownFlag.code, 2);
  assert.match(unknownFlag.stderr, /config add: unknown option --colour/);
  assert.match(unknownFlag.stderr, /--api-key, --workspace-id, --retries, --fast/);

  const noType = await config(['add', 'x', '--api-key', 'k']);
  assert.equal(noType.code, 2);
  assert.match(noType.stderr, /needs --type TYPE/);
  assert.equal((await config(['add', '../evil', '--type', 'demo', '--api-key', 'k'])).code, 2);
  assert.equal((await config(['frobnicate'])).code, 2);
  await assert.rejects(stat(dir), { code: 'ENOENT' });
});

test('a required secret may come from its environment variable at add time; only the given options are stored', async () => {
  const { file, config } = fresh();
  ok(await config(['add', 'e', '--type', 'demo', '--retries', '2'], { DEMO_API_KEY: 'from-env' }));
  assert.equal(await readFile(file, 'utf8'), '[e]\ntype = "demo"\nretries = 2\n');
});

test('edit keeps comments, order and other tables byte for byte; --unset and --no-FLAG; the type cannot change', async () => {
  const { dir, file, config } = fresh();
  const [obscured] = pyObscure(['team-key']);
  const handWritten = `# Backends of this host (edited by hand).

[team]  # the shared account
type = "demo"
api_key = "${obscured}"
# two retries are enough here
retries = 2
fast = true

# personal
[mine]
type = "demo"
api_key = "plain-typed-key"
`;
  await mkdir(dir, { recursive: true });
  await writeFile(file, handWritten);

  const edited = ok(await config(['edit', 'team', '--retries', '4', '--no-fast']));
  assert.match(edited.stdout, /Updated backend "team" \(demo\)/);
  assert.equal(await readFile(file, 'utf8'), handWritten.replace('retries = 2', 'retries = 4').replace('fast = true', 'fast = false'));
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  ok(await config(['edit', 'team', '--unset', 'fast', '--workspace-id', 'w1']));
  assert.equal(
    await readFile(file, 'utf8'),
    handWritten.replace('retries = 2\nfast = true\n', 'retries = 4\nworkspace_id = "w1"\n'),
  );

  const retype = await config(['edit', 'team', '--type', 'local']);
  assert.equal(retype.code, 2);
  assert.match(retype.stderr, /cannot change the type/);
  const badUnset = await config(['edit', 'mine', '--unset', 'retries']);
  assert.equal(badUnset.code, 2);
  const invalid = await config(['edit', 'mine', '--retries=-1']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /--retries: must be >= 0/);
  assert.equal((await config(['edit', 'ghost', '--retries', '1'])).code, 1);
  assert.match(ok(await config(['show', 'mine', '--reveal'])).stdout, /api_key = "plain-typed-key"/);
});

test('remove drops the entry with its comments and keeps the rest', async () => {
  const { dir, file, config } = fresh();
  await mkdir(dir, { recursive: true });
  await writeFile(file, '# top\n[a]\ntype = "demo"\napi_key = "k1"\n\n# about b\n[b]\ntype = "demo"\napi_key = "k2"\n');
  assert.match(ok(await config(['remove', 'b'])).stdout, /Removed backend "b" from .*backends\.toml/);
  assert.equal(await readFile(file, 'utf8'), '# top\n[a]\ntype = "demo"\napi_key = "k1"\n');
  const again = await config(['remove', 'b']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[PYRS_BACKEND_CONFIG_NOT_FOUND\]/);
});

test('broken backends.toml: file, line and column, never its content; nothing is changed', async () => {
  const { dir, file, config } = fresh();
  await mkdir(dir, { recursive: true });
  const broken = '[a]\ntype = "demo"\napi_key = "do-not-print-me"\nretries = = 3\n';
  await writeFile(file, broken);
  for (const args of [['list'], ['show', 'a'], ['add', 'b', '--type', 'demo', '--api-key', 'k'], ['edit', 'a', '--retries', '1'], ['remove', 'a']]) {
    const result = await config(args);
    assert.equal(result.code, 1, args.join(' '));
    assert.ok(result.stderr.includes(`[PYRS_CONFIG_FILE_INVALID]: ${file}: invalid TOML at line 4, column 11:`), result.stderr);
    assert.ok(!result.stderr.includes('do-not-print-me'));
  }
  assert.equal(await readFile(file, 'utf8'), broken);
});

test("PyRestServer's per-backend files: listed as legacy, shown revealed, migrated by edit", async () => {
  const { dir, file, config } = fresh();
  const [obscured] = pyObscure(['legacy-secret']);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'old.toml'), `type = "demo"\napi_key = "${obscured}"\nworkspace_id = "5"\n`);
  const list = ok(await config(['list']));
  assert.equal(list.stdout, `NAME  TYPE  OPTIONS\nold   demo  api_key=******** workspace_id=5 (PyRestServer file ${path.join(dir, 'old.toml')})\n`);
  const shown = ok(await config(['show', 'old', '--reveal']));
  assert.match(shown.stdout, /^# PyRestServer's file .*old\.toml\n\[old\]\ntype = "demo"\napi_key = "legacy-secret"\nworkspace_id = "5"\n$/);
  const edited = ok(await config(['edit', 'old', '--retries', '9']));
  assert.match(edited.stdout, /was in PyRestServer's file .*old\.toml, left as it was/);
  assert.equal(await readFile(file, 'utf8'), `[old]\ntype = "demo"\napi_key = "${obscured}"\nworkspace_id = "5"\nretries = 9\n`);
});

test('the config folder is $XDG_CONFIG_HOME/pyrestserver without PYRESTSERVER_CONFIG_DIR', async () => {
  const xdg = path.join(root, 'xdg');
  const result = await runCli(['config', 'add', 'x', '--type', 'demo', '--api-key', 'k'], { cwd: project, env: { XDG_CONFIG_HOME: xdg } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(await readFile(path.join(xdg, 'pyrestserver', 'backends.toml'), 'utf8'), /^\[x\]\ntype = "demo"\n/);
});
