import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { SERVE_FLAGS } from '../src/serve/flags.js';
import { runCli, startCli, tempDir, waitForLog, writeFiles, writePlugin } from './helpers.js';

const exec = promisify(execFile);

let root: string;
let cleanup: () => Promise<void>;
let projectDir: string;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-cli-'));
  projectDir = path.join(root, 'project');
  await writeFiles(projectDir, { 'package.json': '{"name":"p"}' });
  await writePlugin(path.join(projectDir, 'node_modules'), { name: 'pyrestserver-backend-demo' });
  await writePlugin(path.join(projectDir, 'node_modules'), {
    name: 'pyrestserver-backend-leaky',
    create: `context.logger.info({ api_key: options.api_key, nested: { api_key: options.api_key } }, 'starting leaky');
      throw new Error('login refused for key ' + options.api_key);`,
  });
});
after(() => cleanup());

describe('help and version', () => {
  test('pyrestserver --help lists the commands', async () => {
    const { code, stdout } = await runCli(['--help'], { cwd: root });
    assert.equal(code, 0);
    for (const command of ['serve', 'backends']) assert.match(stdout, new RegExp(`^\\s+${command}\\s`, 'm'));
  });

  test('serve --help lists every flag, with its default', async () => {
    const { code, stdout } = await runCli(['serve', '--help'], { cwd: root });
    assert.equal(code, 0);
    for (const flag of SERVE_FLAGS) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`--${flag.name} `) || l.trim() === `--${flag.name}`);
      assert.ok(line, `--${flag.name} missing from:\n${stdout}`);
      const shown = flag.defaultText ?? flag.default;
      if (shown !== undefined) assert.ok(line.includes(`(default: ${shown})`), line);
    }
    assert.match(stdout, /Backend: local \(pyrestserver-backend-local/);
    // The backend's own option shares --path; it is listed once.
    assert.equal(stdout.match(/^\s+--path </gm)?.length, 1);
  });

  test('serve --backend NAME --help adds the backend options as kebab-case flags', async () => {
    const { code, stdout } = await runCli(['serve', '--backend', 'demo', '--help'], { cwd: projectDir });
    assert.equal(code, 0);
    assert.match(stdout, /Backend: demo \(pyrestserver-backend-demo 1\.2\.3\)/);
    assert.match(stdout, /--api-key <string>\s+demo: the API key \[secret, env DEMO_API_KEY, required\]/);
    assert.match(stdout, /--workspace-id <string>\s+demo: workspace id \(default: 0\)/);
    assert.match(stdout, /--retries <integer>.*\[env DEMO_RETRIES\] \(default: 3\)/);
  });

  test('enum options show their values in --help and `backends`; --path says what it means for a backend without it', async () => {
    await writePlugin(path.join(projectDir, 'node_modules'), {
      name: 'pyrestserver-backend-tiers',
      schema: {
        type: 'object',
        properties: { tier: { type: 'string', enum: ['hot', 'cold', 'archive'], default: 'hot', description: 'storage tier' } },
      },
    });
    const help = await runCli(['serve', '--backend', 'tiers', '--help'], { cwd: projectDir });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--tier <hot\|cold\|archive>\s+tiers: storage tier \(default: hot\)/);
    assert.match(help.stdout, /--path <dir>\s+not where the tiers backend stores; still the folder of the defaults <path>\/\.htpasswd/);
    // The local backend stores under --path: its help keeps rest-server's text.
    assert.match((await runCli(['serve', '--help'], { cwd: projectDir })).stdout, /--path <dir>\s+data directory \(default: \/tmp\/restic\)/);
    const table = await runCli(['backends'], { cwd: projectDir });
    assert.match(table.stdout, /^\s+tier\s+hot\|cold\|archive\s+"hot"\s+-\s+-\s+storage tier$/m);
    const json = JSON.parse((await runCli(['backends', '--json'], { cwd: projectDir })).stdout) as { type: string; options: { name: string; type: string; enum?: string[] }[] }[];
    assert.deepEqual(json.find((b) => b.type === 'tiers')!.options[0], {
      name: 'tier', flag: '--tier', type: 'string', enum: ['hot', 'cold', 'archive'], default: 'hot', required: false, secret: false, description: 'storage tier',
    });
  });

  test('--version prints the package version', async () => {
    const { code, stdout } = await runCli(['--version'], { cwd: root });
    assert.equal(code, 0);
    assert.match(stdout, /^pyrestserver\/0\.1\.0 /);
    const serve = await runCli(['serve', '--version'], { cwd: root });
    assert.equal(serve.code, 0);
    assert.match(serve.stdout, /^pyrestserver\/0\.1\.0 /);
  });
});

describe('errors before listening', () => {
  test('a missing plugin: the package, the places looked, the install hint, exit 1', async () => {
    const { code, stdout, stderr } = await runCli(['serve', '--backend', 'nope', '--no-auth'], { cwd: projectDir });
    assert.equal(code, 1);
    assert.match(stderr, /error \[PYRS_PLUGIN_NOT_FOUND\]: backend "nope" not found: no package pyrestserver-backend-nope in/);
    assert.ok(stderr.includes(path.join(projectDir, 'node_modules')), stderr);
    assert.match(stderr, /^Install it: npm i -g pyrestserver-backend-nope$/m);
    assert.doesNotMatch(stdout, /listening/);
  });

  test('an unknown flag: exit 2', async () => {
    const { code, stderr } = await runCli(['serve', '--no-auth', '--colour', 'red'], { cwd: root });
    assert.equal(code, 2);
    assert.match(stderr, /PYRS_USAGE/);
    assert.match(stderr, /colour/);
  });

  test('an unknown command: exit 2', async () => {
    const { code, stderr } = await runCli(['serv'], { cwd: root });
    assert.equal(code, 2);
    assert.match(stderr, /unknown command: serv/);
  });

  test('flags without a command (rest-server style): exit 2, pointing at serve', async () => {
    const { code, stdout, stderr } = await runCli(['--path', '/srv/restic', '--no-auth'], { cwd: root });
    assert.equal(code, 2, stdout);
    assert.match(stderr, /\[PYRS_USAGE\]: .*--path/);
    assert.match(stderr, /pyrestserver serve --path/);
  });

  test('secrets stay out of logs and error messages when a backend fails to start', async () => {
    const secret = 'k-0123-very-secret';
    const { code, stdout, stderr } = await runCli(['serve', '--backend', 'leaky', '--no-auth'], {
      cwd: projectDir,
      env: { DEMO_API_KEY: secret },
    });
    assert.equal(code, 1);
    assert.match(stdout, /starting leaky/);
    assert.match(stderr, /PYRS_BACKEND_START.*login refused for key \[secret\]/);
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret), `${stdout}\n${stderr}`);
  });
});

describe('backends', () => {
  test('--json lists every backend found with its options', async () => {
    const { code, stdout } = await runCli(['backends', '--json'], { cwd: projectDir });
    assert.equal(code, 0);
    const list = JSON.parse(stdout) as { type: string; package: string; version: string; location: string; options: { name: string; secret: boolean; env?: string }[] }[];
    const byType = new Map(list.map((b) => [b.type, b]));
    assert.equal(byType.get('local')?.package, 'pyrestserver-backend-local');
    const demo = byType.get('demo');
    assert.equal(demo?.version, '1.2.3');
    assert.equal(demo?.location, path.join(projectDir, 'node_modules', 'pyrestserver-backend-demo'));
    assert.deepEqual(demo?.options.find((o) => o.name === 'api_key'), {
      name: 'api_key', flag: '--api-key', type: 'string', required: true, secret: true, env: 'DEMO_API_KEY', description: 'the API key',
    });
  });

  test('plugins named in the config file are listed, from the config file\'s folder', async () => {
    const dir = path.join(root, 'with-config');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.yaml': 'plugins: [./vendor/pyrestserver-backend-vendored]\n' });
    await writePlugin(path.join(dir, 'vendor'), { name: 'pyrestserver-backend-vendored' });
    const { code, stdout } = await runCli(['backends', '--json'], { cwd: dir });
    assert.equal(code, 0);
    const vendored = (JSON.parse(stdout) as { type: string; location: string }[]).find((b) => b.type === 'vendored');
    assert.equal(vendored?.location, path.join(dir, 'vendor', 'pyrestserver-backend-vendored'));
  });

  test('the table shows type, package, location and options', async () => {
    const { code, stdout } = await runCli(['backends'], { cwd: projectDir });
    assert.equal(code, 0);
    assert.match(stdout, /^type:\s+demo$/m);
    assert.match(stdout, /^package:\s+pyrestserver-backend-demo@1\.2\.3$/m);
    assert.match(stdout, /^\s+api_key\s+string\s+-\s+required,secret\s+DEMO_API_KEY\s+the API key$/m);
  });
});

describe('serve with the real restic', () => {
  test('init, backup and check against the local backend, then a clean stop on SIGTERM', async () => {
    const data = path.join(root, 'data');
    const source = path.join(root, 'source');
    await writeFiles(source, { 'a.txt': 'hello restic\n'.repeat(1000), 'dir/b.bin': 'x'.repeat(300_000) });
    const child = startCli(['serve', '--path', data, '--listen', '127.0.0.1:0', '--no-auth'], { cwd: root });
    try {
      const listening = await waitForLog(child, 'listening');
      assert.equal(listening.backend, 'local');
      assert.equal(listening.path, data);
      const port = new URL(String(listening.address)).port;
      const env = { ...process.env, RESTIC_PASSWORD: 'pw', RESTIC_REPOSITORY: `rest:http://127.0.0.1:${port}/repo` };
      await exec('restic', ['init'], { env });
      await exec('restic', ['backup', source], { env });
      await exec('restic', ['check'], { env });
      assert.ok((await readdir(path.join(data, 'repo', 'snapshots'))).length === 1);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('a backend\'s own Fastify plugin', () => {
  test('is registered with the server when that backend is active', async () => {
    await writePlugin(path.join(projectDir, 'node_modules'), {
      name: 'pyrestserver-backend-routed',
      source: `export default {
  kind: 'pyrestserver-backend', apiVersion: 1, type: 'routed',
  optionsSchema: { type: 'object', properties: {} },
  create() { return {}; },
  async fastifyPlugin(app) { app.get('/_routed/health', async () => ({ healthy: true })); },
};\n`,
    });
    const child = startCli(['serve', '--backend', 'routed', '--listen', '127.0.0.1:0', '--no-auth'], { cwd: projectDir });
    try {
      const { address } = await waitForLog(child, 'listening');
      const reply = await fetch(new URL('/_routed/health', String(address)));
      assert.equal(reply.status, 200);
      assert.deepEqual(await reply.json(), { healthy: true });
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM lets an upload in flight finish and be stored, then exits 0', async () => {
    const data = path.join(root, 'drain');
    const child = startCli(['serve', '--path', data, '--listen', '127.0.0.1:0', '--no-auth'], { cwd: root });
    try {
      const { address } = await waitForLog(child, 'listening');
      const { port } = new URL(String(address));
      assert.equal((await fetch(`http://127.0.0.1:${port}/drain/?create=true`, { method: 'POST' })).status, 200);

      const body = randomBytes(256 * 1024);
      const name = createHash('sha256').update(body).digest('hex');
      const req = http.request({
        host: '127.0.0.1', port: Number(port), method: 'POST', path: `/drain/data/${name}`,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, expect: '100-continue' },
      });
      const response = new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
      // "100 Continue" means the server has the request in hand: it is in flight.
      await new Promise((resolve) => req.once('continue', resolve));
      req.write(body.subarray(0, 1000));
      const draining = waitForLog(child, 'shutting down: finishing requests in flight');
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await draining;
      req.end(body.subarray(1000));
      assert.equal((await response).statusCode, 200);
      assert.deepEqual(await exited, [0, null]);
      assert.ok((await readFile(path.join(data, 'drain', 'data', name.slice(0, 2), name))).equals(body));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('standard output going away', () => {
  test('(the log reader died: EPIPE) does not stop the server', async () => {
    const data = path.join(root, 'epipe');
    // --log - puts a line on standard output for every request.
    const child = startCli(['serve', '--path', data, '--listen', '127.0.0.1:0', '--no-auth', '--log', '-'], { cwd: root });
    try {
      const { address } = await waitForLog(child, 'listening');
      const { port } = new URL(String(address));
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const logged = new Promise<void>((resolve) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('"POST /epipe/?create=true HTTP/1.1" 200')) resolve();
        });
      });
      assert.equal((await fetch(`http://127.0.0.1:${port}/epipe/?create=true`, { method: 'POST' })).status, 200);
      await logged; // `--log -` writes to standard output
      child.stdout!.destroy(); // its writes now fail with EPIPE
      for (let i = 0; i < 3; i++) {
        assert.equal((await fetch(`http://127.0.0.1:${port}/epipe/?create=true`, { method: 'POST' })).status, 200, stderr);
      }
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, [0, null], stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
