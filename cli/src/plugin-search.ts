/**
 * Where the CLI looks for backend packages, in order: next to the config file, the current
 * directory, the folder the pyrestserver CLI itself is installed in (so that
 * `npm i -g pyrestserver pyrestserver-backend-drime` works), and the CLI's own dependencies
 * (where pyrestserver-backend-local comes from).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI package's folder (`.../node_modules/pyrestserver`), from this file in `src/` or `dist/`. */
export const CLI_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function pluginSearchPaths({ configFile, cwd = process.cwd() }: { configFile?: string; cwd?: string } = {}): string[] {
  const paths = [
    ...(configFile ? [path.dirname(configFile)] : []),
    cwd,
    ...installFolders(),
    CLI_ROOT,
  ];
  return [...new Set(paths.map((p) => path.resolve(p)))];
}

/**
 * The node_modules folder holding the CLI: its parent when installed by npm (global
 * `<prefix>/lib/node_modules`, or a project's node_modules), and the global folder next to
 * the `bin` folder the command was started from (pnpm and other layouts link from there).
 */
function installFolders(): string[] {
  const out: string[] = [];
  const parent = path.dirname(CLI_ROOT);
  if (path.basename(parent) === 'node_modules') out.push(parent);
  const bin = process.argv[1] ? path.resolve(process.argv[1]) : undefined;
  if (bin && path.basename(path.dirname(bin)) === 'bin') {
    const prefix = path.dirname(path.dirname(bin));
    for (const candidate of [path.join(prefix, 'lib', 'node_modules'), path.join(prefix, 'node_modules')]) {
      if (existsSync(candidate)) out.push(candidate);
    }
  }
  return out;
}
