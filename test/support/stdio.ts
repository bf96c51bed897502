/**
 * restic's `rclone:` backend pointed at our CLI: restic starts `pyrestserver <args> <remote>`
 * for every command and speaks HTTP/2 over its standard input and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type ClientHttp2Session } from 'node:http2';
import { Duplex } from 'node:stream';
import { CLI_BIN, REPO_ROOT } from './cli.js';
import { restic, type ResticOptions, type ResticResult } from './restic.js';

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
