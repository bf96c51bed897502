import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh empty folder under the OS temp dir; remove it with `removeDir`. */
export const tempDir = (prefix = 'pyrs-test-'): Promise<string> => mkdtemp(join(tmpdir(), prefix));

export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });
