import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir } from './tmp.js';

/** The workspace root and the CLI entry point the e2e tests run. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

let built = false;

/** Packages in build order (what `pnpm run build` compiles), for the fallback below. */
const BUILD_ORDER = ['core', 'plugins/backend-local', 'plugins/backend-drime', 'plugins/backend-s3', 'cli'];

/**
 * Run `pnpm run build` at the workspace root once per test process, so `cli/dist` is the
 * current source. When pnpm refuses (e.g. a workspace dependency cycle), compile each
 * package with tsc in dependency order instead. tsc emits even with type errors (type
 * checks have their own step), so this fails only when the CLI entry point is missing.
 */
export function ensureBuilt(): void {
  if (built) return;
  const pnpm = spawnSync('pnpm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
  let log = `${pnpm.stdout}\n${pnpm.stderr}`;
  if (pnpm.status !== 0) {
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    for (const pkg of BUILD_ORDER) {
      const r = spawnSync(process.execPath, [tsc, '-p', join(REPO_ROOT, pkg, 'tsconfig.json')], { encoding: 'utf8', timeout: 180_000 });
      log += `\n${pkg}: ${r.stdout}${r.stderr}`;
    }
  }
  if (!existsSync(CLI_BIN)) throw new Error(`build did not produce ${CLI_BIN}:\n${log}`);
  built = true;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface CliServerOptions {
  /** Subcommand and its first arguments; default `['serve']`. */
  command?: string[];
  /** Extra arguments (e.g. `--htpasswd-file F`, `--tls --tls-cert C --tls-key K`, `--append-only`). */
  args?: string[];
  /** Add `--no-auth` (default true). */
  noAuth?: boolean;
  /** `--path`: a given folder (kept), a fresh temporary one (default, removed on stop), or false for none. */
  path?: string | false;
  /** Extra environment for the server process. */
  env?: NodeJS.ProcessEnv;
  /** URL scheme of `url` (`https` with `--tls`). Default http. */
  scheme?: 'http' | 'https';
  /** How long to wait for the port to accept connections. Default 20 s. */
  startTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliServer {
  /** e.g. `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The `--path` folder, if any. */
  readonly path: string | undefined;
  readonly child: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Send `signal` (default SIGTERM), wait for the exit, remove a temporary `--path`. */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Spawn `node cli/dist/bin.js serve --listen 127.0.0.1:0 [--path DIR] [--no-auth] ...args` and
 * wait for its "listening" log line, which names the port the kernel gave it. (Not a port
 * found free beforehand and passed in: another process may take it in between, and a probe
 * of a port nobody listens on yet can connect to itself.) Call `ensureBuilt()` first.
 */
export async function startCli(options: CliServerOptions = {}): Promise<CliServer> {
  const ownPath = options.path === undefined ? await tempDir('pyrs-cli-data-') : undefined;
  const path = ownPath ?? (options.path === false ? undefined : options.path);
  const args = [
    CLI_BIN,
    ...(options.command ?? ['serve']),
    '--listen',
    '127.0.0.1:0',
    ...(path !== undefined ? ['--path', path] : []),
    ...(options.noAuth === false ? [] : ['--no-auth']),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let pending = '';
  let onListening: ((port: number) => void) | undefined;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    if (!onListening) return;
    pending += s;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const port = listeningPort(line);
      if (port !== undefined) {
        onListening?.(port);
        onListening = undefined;
        pending = '';
        return;
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const status = await exited;
    if (ownPath !== undefined) await removeDir(ownPath);
    return status;
  };

  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  let port: number;
  try {
    port = await Promise.race([
      new Promise<number>((resolve) => (onListening = resolve)),
      exited.then((s) => Promise.reject(new Error(`server exited before listening (code ${s.code}, signal ${s.signal})`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`server did not log "listening" within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await stop('SIGKILL');
    throw new Error(`${(err as Error).message}\nserver output:\n${out}`);
  } finally {
    clearTimeout(timer);
  }
  return {
    url: `${options.scheme ?? 'http'}://127.0.0.1:${port}`,
    port,
    path,
    child,
    output: () => out,
    exited,
    stop,
  };
}

/** The port of the server's "listening" log line (pino JSON: `"msg":"listening"`, `"address":"http://127.0.0.1:N"`). */
/** The server's "listening" log entry, when `line` is one (its `address` a URL). */
export function listeningEntry(line: string): ({ address: string } & Record<string, unknown>) | undefined {
  if (!line.includes('"listening"')) return undefined;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg !== 'listening' || typeof entry.address !== 'string') return undefined;
    return entry as { address: string } & Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function listeningPort(line: string): number | undefined {
  const entry = listeningEntry(line);
  if (!entry) return undefined;
  const port = Number(new URL(entry.address).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}
