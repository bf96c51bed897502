/**
 * The data folder is checked once at start, so a broken set-up fails with a clear message
 * instead of serving bare 404s or 500s: it must be a folder (created when missing, as
 * rest-server does) that the server can write. Writing is tried for real (a probe file
 * created and removed), so a read-only mount or missing permissions show, also for root.
 */
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ConfigErrorCode } from '@pyrestserver/core';

export async function checkDataDir(root: string, dirMode: number): Promise<void> {
  const fail = (problem: string, cause?: unknown, hint = 'Pass --path a folder the server can write, or fix its permissions.') =>
    new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `--path ${root}: ${problem}`, { hint, cause });
  let st;
  try {
    st = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw fail(`cannot access it (${code ?? (err as Error).message})`, err);
  }
  if (st && !st.isDirectory()) throw fail('is not a folder');
  if (!st) {
    try {
      await mkdir(root, { recursive: true, mode: dirMode });
    } catch (err) {
      throw fail(`does not exist and cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
    }
  }
  const probe = path.join(root, `.pyrestserver-write-check-${process.pid}`);
  try {
    await (await open(probe, 'wx', 0o600)).close();
  } catch (err) {
    throw fail(`the server cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  }
  await unlink(probe).catch(() => {});
}
