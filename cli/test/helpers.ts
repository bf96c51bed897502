/** Test helpers: temporary folders, fixture plugin packages, running the CLI as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** A temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'pyrs-cli-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Write files (relative path -> content) under `root`. */
export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

export interface FixturePlugin {
  /** The package name, e.g. `pyrestserver-backend-demo`. */
  name: string;
  /** Source of the entry module; default: a valid ESM plugin of type `type` with `schema`. */
  source?: string;
  type?: string;
  schema?: object;
  /** `create` body (JS), given `options` and `context`; default returns an empty object. */
  create?: string;
  version?: string;
  cjs?: boolean;
  manifest?: Record<string, unknown>;
  extraFiles?: Record<string, string>;
}

export const DEMO_SCHEMA = {
  type: 'object',
  properties: {
    api_key: { type: 'string', 'x-secret': true, 'x-env': 'DEMO_API_KEY', description: 'the API key' },
    workspace_id: { type: 'string', default: '0', description: 'workspace id' },
    retries: { type: 'integer', default: 3, minimum: 0, 'x-env': 'DEMO_RETRIES' },
    fast: { type: 'boolean', default: false },
  },
  required: ['api_key'],
  additionalProperties: false,
};

/** A plugin package at `<nodeModules>/<name>`. */
export async function writePlugin(nodeModules: string, plugin: FixturePlugin): Promise<string> {
  const dir = path.join(nodeModules, plugin.name);
  const type = plugin.type ?? plugin.name.replace(/^(@[^/]+\/)?pyrestserver-backend-/, '');
  const body = `{
  kind: 'pyrestserver-backend',
  apiVersion: 1,
  type: ${JSON.stringify(type)},
  description: 'fixture ${type}',
  optionsSchema: ${JSON.stringify(plugin.schema ?? DEMO_SCHEMA)},
  create(options, context) { ${plugin.create ?? 'return {};'} },
}`;
  const entry = plugin.cjs ? 'index.cjs' : 'index.js';
  const source = plugin.source ?? (plugin.cjs ? `module.exports = ${body};\n` : `export default ${body};\n`);
  await writeFiles(dir, {
    'package.json': JSON.stringify({
      name: plugin.name,
      version: plugin.version ?? '1.2.3',
      type: plugin.cjs ? 'commonjs' : 'module',
      main: entry,
      ...plugin.manifest,
    }),
    [entry]: source,
    ...plugin.extraFiles,
  });
  return dir;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * This process's node flags, the tsx loader by absolute URL (a bare `tsx` resolves from the
 * child's cwd). Node 20 passes `--import tsx` to test files; Node 24 `--import=tsx`.
 */
const EXEC_ARGV = process.execArgv.map((arg) =>
  arg === 'tsx' ? import.meta.resolve('tsx') : arg === '--import=tsx' ? `--import=${import.meta.resolve('tsx')}` : arg,
);

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is then closed (default: no standard input). */
  input?: string;
}

/** The CLI as a child process (from source, like the tests themselves run). */
export function startCli(args: string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [...EXEC_ARGV, CLI_BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...cleanEnv(), ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  return child;
}

/** Run the CLI to completion. */
export function runCli(args: string[], options: CliOptions = {}): Promise<RunResult> {
  const child = startCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The environment without any PYRESTSERVER_* or fixture variables of the outer shell. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('PYRESTSERVER_') && !k.startsWith('DEMO_') && !k.startsWith('DRIME_')),
  );
}

/** Wait for a JSON log line with `msg`, from a child's stdout. */
export function waitForLog(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === msg) {
            child.stdout!.off('data', onData);
            resolve(entry);
            return;
          }
        } catch {
          // not JSON: ignore
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before "${msg}": ${stderr}`)));
  });
}
