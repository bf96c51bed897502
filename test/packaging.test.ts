/**
 * The packages as users get them: `pnpm pack` core, local, drime and cli (workspace
 * dependencies rewritten), pack two test-only plugins (ESM and CommonJS), then install all
 * tarballs with plain npm into (a) a fresh project and (b) a fresh global prefix, and use
 * the installed `pyrestserver` there: list the backends, serve restic through the test-only
 * plugins, and fail with the install hint for a missing one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt, listeningEntry, REPO_ROOT } from './support/cli.js';
import { restic } from './support/restic.js';
import { removeDir, tempDir } from './support/tmp.js';
import { makeTree } from './support/tree.js';

const run = promisify(execFile);
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const WORKSPACE_PACKAGES = ['core', 'plugins/backend-local', 'plugins/backend-drime', 'cli'];
const FIXTURE_PACKAGES = ['backend-esm', 'backend-cjs'];
const SMALL_TREE = [{ path: 'a.bin', size: 200_000 }, { path: 'docs/b.bin', size: 3_000_000 }, { path: 'empty.txt', size: 0 }];
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

let work: string;
let tarballs: string[];
/** Where each install's `pyrestserver` is, and the folder to run it from. */
const installs: Record<'project' | 'global', { bin: string; cwd: string; modules: string }> = {} as never;

/** The environment for the installed CLI: nothing of this test runner's node flags or our variables. */
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PYRESTSERVER_|FIXTURE_|DRIME_|NODE_OPTIONS$)/.test(k))),
  ...extra,
});

async function pack(dir: string, into: string, tool: 'pnpm' | 'npm'): Promise<string> {
  const before = new Set(await readdir(into));
  await run(tool, ['pack', '--pack-destination', into], { cwd: dir, env: env() });
  const added = (await readdir(into)).filter((f) => f.endsWith('.tgz') && !before.has(f));
  assert.equal(added.length, 1, `packing ${dir} made ${added.join(', ') || 'nothing'}`);
  return path.join(into, added[0]!);
}

before(async () => {
  ensureBuilt();
  work = await tempDir('pyrs-pack-');
  const out = path.join(work, 'tarballs');
  await mkdir(out);
  tarballs = [];
  for (const pkg of WORKSPACE_PACKAGES) tarballs.push(await pack(path.join(REPO_ROOT, pkg), out, 'pnpm'));
  for (const fixture of FIXTURE_PACKAGES) {
    // Each fixture package gets its own copy of the shared provider before it is packed.
    const staged = path.join(work, 'staged', fixture);
    await cp(path.join(FIXTURES, fixture), staged, { recursive: true });
    await copyFile(path.join(FIXTURES, 'disk-provider.cjs'), path.join(staged, 'disk-provider.cjs'));
    tarballs.push(await pack(staged, out, 'npm'));
  }

  const project = path.join(work, 'project');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), '{ "name": "a-project", "private": true }\n');
  const prefix = path.join(work, 'global');
  const elsewhere = path.join(work, 'elsewhere');
  await mkdir(elsewhere);
  // One npm command per install: the core tarball satisfies the plugins' peer dependency.
  await Promise.all([
    run('npm', ['install', ...NPM_FLAGS, ...tarballs], { cwd: project, env: env(), maxBuffer: 16 << 20 }),
    run('npm', ['install', '-g', '--prefix', prefix, ...NPM_FLAGS, ...tarballs], { cwd: elsewhere, env: env(), maxBuffer: 16 << 20 }),
  ]);
  installs.project = { bin: path.join(project, 'node_modules', '.bin', 'pyrestserver'), cwd: project, modules: path.join(project, 'node_modules') };
  installs.global = { bin: path.join(prefix, 'bin', 'pyrestserver'), cwd: elsewhere, modules: path.join(prefix, 'lib', 'node_modules') };
});

after(async () => {
  if (work) await removeDir(work);
});

function cli(where: keyof typeof installs, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const { bin, cwd } = installs[where];
  return run(bin, args, { cwd, env: env(extraEnv) }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

/** Start `pyrestserver serve ...` and resolve with its address once it logs "listening". */
async function serve(where: keyof typeof installs, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const { bin, cwd } = installs[where];
  const child: ChildProcess = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--no-auth', ...args], {
    cwd, env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const listening = await new Promise<{ address: string } & Record<string, unknown>>((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      buffer += s;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const entry = listeningEntry(line);
        if (entry) resolve(entry);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening:\n${output}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    return (await exited)[0] as number | null;
  };
  return { url: listening.address.replace(/\/$/, ''), listening, stop, output: () => output };
}

/** restic init + backup + check through a running server. */
async function backupRoundTrip(url: string, source: string): Promise<void> {
  const repo = `rest:${url}/repo`;
  for (const args of [['init'], ['backup', source], ['check']]) {
    const r = await restic(args, { repo });
    assert.equal(r.code, 0, `restic ${args.join(' ')}: ${r.stderr}`);
  }
}

for (const where of ['project', 'global'] as const) {
  describe(`installed in a ${where === 'project' ? 'fresh project' : 'fresh global prefix'}`, () => {
    test('`pyrestserver backends` lists local, drime and the test-only plugins, found where npm put them', async () => {
      const { code, stdout, stderr } = await cli(where, ['backends', '--json']);
      assert.equal(code, 0, stderr);
      const list = JSON.parse(stdout) as { type: string; package: string; version: string; location: string }[];
      const byType = new Map(list.map((b) => [b.type, b]));
      for (const [type, pkg] of [
        ['local', 'pyrestserver-backend-local'],
        ['drime', 'pyrestserver-backend-drime'],
        ['fixture-esm', 'pyrestserver-backend-fixture-esm'],
        ['fixture-cjs', 'pyrestserver-backend-fixture-cjs'],
      ]) {
        const found = byType.get(type!);
        assert.equal(found?.package, pkg, `${type} not listed: ${stdout}`);
        assert.equal(found!.location, path.join(installs[where].modules, pkg!));
      }
      assert.equal(byType.get('fixture-cjs')!.version, '0.0.2');
    });

    const plugins = [
      { type: 'fixture-esm', how: 'ES module, options from flags', args: (data: string) => ['--backend', 'fixture-esm', '--dir', data], env: () => ({}) },
      {
        type: 'fixture-cjs', how: 'CommonJS named by package, option from its x-env variable',
        args: () => ['--backend', 'pyrestserver-backend-fixture-cjs'], env: (data: string) => ({ FIXTURE_CJS_DIR: data }),
      },
    ];
    for (const plugin of plugins) {
      test(`serve --backend ${plugin.type} (${plugin.how}) serves restic`, async () => {
        const data = path.join(work, `${where}-${plugin.type}-data`);
        const server = await serve(where, plugin.args(data), plugin.env(data));
        try {
          assert.equal(server.listening.backend, plugin.type);
          const source = path.join(work, `${where}-${plugin.type}-source`);
          await makeTree(source, { files: SMALL_TREE });
          await backupRoundTrip(server.url, source);
          assert.equal((await readdir(path.join(data, 'repo', 'snapshots'))).length, 1);
        } finally {
          assert.equal(await server.stop(), 0, server.output());
        }
      });
    }

    test('a missing backend: the install hint and a non-zero exit', async () => {
      const { code, stdout, stderr } = await cli(where, ['serve', '--backend', 's3', '--no-auth']);
      assert.equal(code, 1);
      assert.match(stderr, /\[PYRS_PLUGIN_NOT_FOUND\]/);
      assert.match(stderr, /npm i -g pyrestserver-backend-s3/);
      assert.doesNotMatch(stdout, /listening/);
    });
  });
}
