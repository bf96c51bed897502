import { spawn } from 'node:child_process';

export const RESTIC_PASSWORD = 'test-password-not-secret';

export interface ResticOptions {
  /** The repository, e.g. `rest:http://127.0.0.1:PORT/alice/main`. */
  repo: string;
  /** RESTIC_PASSWORD (default RESTIC_PASSWORD above). */
  password?: string;
  /** Extra environment (e.g. RESTIC_REST_USERNAME / RESTIC_REST_PASSWORD). */
  env?: NodeJS.ProcessEnv;
  /** `--cacert FILE` for a TLS server with its own certificate. */
  cacert?: string;
  /** A cache folder (`--cache-dir`); default `--no-cache`, so runs leave nothing behind. */
  cacheDir?: string;
  cwd?: string;
  /** Kill restic after this long (default 120 s). */
  timeoutMs?: number;
}

export interface ResticResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The restic binary: RESTIC_BIN or `restic` on PATH. A missing binary fails the test. */
export const RESTIC_BIN = process.env.RESTIC_BIN ?? 'restic';

/** Run the real restic client against `options.repo` and collect its output. */
export function restic(args: readonly string[], options: ResticOptions): Promise<ResticResult> {
  const fullArgs = [
    '--repo',
    options.repo,
    ...(options.cacert ? ['--cacert', options.cacert] : []),
    ...(options.cacheDir ? ['--cache-dir', options.cacheDir] : ['--no-cache']),
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(RESTIC_BIN, fullArgs, {
      cwd: options.cwd,
      env: { ...process.env, RESTIC_PASSWORD: options.password ?? RESTIC_PASSWORD, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(missing ? new Error(`the restic binary (${RESTIC_BIN}) is not installed; this test needs it`) : err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run restic with `--json` and parse its stdout (restic must exit 0). */
export async function resticJson<T = unknown>(args: readonly string[], options: ResticOptions): Promise<T> {
  const result = await restic(['--json', ...args], options);
  if (result.code !== 0) throw new Error(`restic ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
