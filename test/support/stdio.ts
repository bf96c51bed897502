/**
 * restic's `rclone:` backend pointed at our CLI: restic starts `pyrestserver <args> <remote>`
 * for every command and speaks HTTP/2 over its standard input and output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { CLI_BIN, REPO_ROOT } from './cli.js';
import { restic, RESTIC_BIN, RESTIC_PASSWORD, type ResticOptions, type ResticResult } from './restic.js';
import { hashFile } from './tree.js';

export interface StdioRestic {
  /** `rclone.program` (default: the built CLI). */
  program?: string;
  /** `rclone.args`, e.g. `serve --stdio --path DIR` (default: restic's own, rclone's shape). */
  args?: string;
  /** The remote: `rclone:<remote>`. */
  remote: string;
  /** Environment for restic, which passes it on to the program. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Run restic with `-r rclone:<remote>` and `-o rclone.program=... -o rclone.args=...`. */
export function resticStdio(args: readonly string[], s: StdioRestic, extra: Partial<ResticOptions> = {}): Promise<ResticResult> {
  const options = [
    '-o', `rclone.program=${s.program ?? CLI_BIN}`,
    ...(s.args !== undefined ? ['-o', `rclone.args=${s.args}`] : []),
  ];
  return restic([...options, ...args], {
    repo: `rclone:${s.remote}`,
    ...(s.env ? { env: s.env } : {}),
    timeoutMs: s.timeoutMs ?? 120_000,
    ...extra,
  });
}

export interface StdioServer {
  child: ChildProcess;
  session: ClientHttp2Session;
  /** What the server wrote to stderr (stdout carries the HTTP/2 connection). */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawn `pyrestserver serve --stdio ...args` and open an HTTP/2 session over its pipes, as restic does. */
export function spawnStdio(args: readonly string[], env: NodeJS.ProcessEnv = {}): StdioServer {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', '--stdio', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pipe = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  pipe.on('error', () => {});
  const session = connect('http://localhost', { createConnection: () => pipe as never });
  session.on('error', () => {});
  return { child, session, stderr: () => err, exited };
}

/** One request on `session`: status and body. */
export function h2Request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, body === undefined ? { endStream: true } : {});
    const chunks: Buffer[] = [];
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

/** Every file below `dir`, relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const parent = (entry as unknown as { parentPath?: string; path: string }).parentPath ?? (entry as unknown as { path: string }).path;
    out.push(join(parent, entry.name).slice(dir.length + 1));
  }
  return out.sort();
}

/** No temporary or partial file: each stored file (but config) is named by its SHA-256. Returns the count. */
export async function assertRepositoryWhole(repoDir: string): Promise<number> {
  const files = await filesUnder(repoDir);
  for (const rel of files) {
    if (rel === 'config') continue;
    const m = /^(?:data\/[0-9a-f]{2}|keys|locks|snapshots|index)\/([0-9a-f]{64})$/.exec(rel);
    assert.ok(m, `unexpected file (temporary or partial?) ${rel}`);
    assert.equal(await hashFile(join(repoDir, rel)), m[1], `content of ${rel}`);
  }
  return files.length;
}

/**
 * An executable `pyrestserver` in `dir` that appends its pid to `pids` and execs the CLI
 * (same pid), so a test can wait for the server that restic or sshd started to exit.
 */
export async function pidRecordingProgram(dir: string): Promise<{ program: string; lastPid(): Promise<number> }> {
  const pids = join(dir, 'server.pids');
  const program = join(dir, 'pyrestserver');
  await writeFile(pids, '');
  await writeFile(program, `#!/bin/sh\necho $$ >> ${pids}\nexec ${process.execPath} ${CLI_BIN} "$@"\n`);
  await chmod(program, 0o755);
  return { program, lastPid: async () => Number((await readFile(pids, 'utf8')).trim().split('\n').at(-1)) };
}

/**
 * Start `restic backup source` through the rclone backend, SIGKILL it while an upload is
 * in progress (a temporary file exists in `repoDir`), and wait for the server (its pid from
 * `lastPid`) to exit. The caller then checks the repository.
 */
export async function killResticMidUpload(s: StdioRestic, source: string, repoDir: string, lastPid: () => Promise<number>): Promise<void> {
  const args = ['--no-cache', '-o', `rclone.program=${s.program ?? CLI_BIN}`, ...(s.args !== undefined ? ['-o', `rclone.args=${s.args}`] : []), '-r', `rclone:${s.remote}`, 'backup', source];
  const child = spawn(RESTIC_BIN, args, { env: { ...process.env, RESTIC_PASSWORD }, stdio: 'ignore' });
  const uploading = async () => (await filesUnder(repoDir)).some((f) => f.split('/').at(-1)!.startsWith('.pyrs-tmp.'));
  let seen = false;
  for (let i = 0; i < 1000 && !seen && child.exitCode === null; i++) {
    seen = await uploading();
    if (!seen) await sleep(20);
  }
  assert.ok(seen, 'an upload was in progress');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const pid = await lastPid();
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 600 && alive(); i++) await sleep(25);
  assert.ok(!alive(), 'the server exited when its client went away');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
