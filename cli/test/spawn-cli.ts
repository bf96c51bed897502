/**
 * The CLI from source as a child process, from any working folder (the tsx loader is
 * passed by absolute URL: `--import tsx` would be resolved from the child's cwd),
 * with optional standard input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_BIN, cleanEnv, type RunResult } from './helpers.js';

const EXEC_ARGV = process.execArgv.map((arg) => (arg === 'tsx' ? import.meta.resolve('tsx') : arg));

export interface SpawnOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is then closed; without it stdin is empty. */
  input?: string;
}

export function startCliIn(args: string[], { cwd, env }: SpawnOptions): ChildProcess {
  return spawn(process.execPath, [...EXEC_ARGV, CLI_BIN, ...args], {
    cwd,
    env: { ...cleanEnv(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function runCliIn(args: string[], options: SpawnOptions): Promise<RunResult> {
  const child = startCliIn(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
