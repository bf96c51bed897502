import type { CAC } from 'cac';
import path from 'node:path';
import { describeOptions, findBackends, loadBackend, loadConfigFile, type LoadedBackend } from '@pyrestserver/core';
import { pluginSearchPaths } from '../plugin-search.js';
import { formatError } from '../errors.js';

/** `pyrestserver backends`: every backend plugin found, with its options. */
export function registerBackends(cli: CAC, context = { cwd: process.cwd() }): void {
  cli
    .command('backends', 'List the backend plugins found (pyrestserver-backend-* packages) and their options')
    .option('--json', 'print JSON instead of a table')
    .option('--config <file>', 'config file whose folder and `plugins` are searched too (default: searched)')
    .action(async (flags: { json?: boolean; config?: string }) => {
      const backends = await listBackends(context.cwd, flags.config);
      process.stdout.write(flags.json ? `${JSON.stringify(backends.map(toJson), null, 2)}\n` : table(backends));
      return 0;
    });
}

/** Backends from the config file's `plugins`, then every package in the search paths (first of each type wins). */
async function listBackends(cwd: string, configPath: string | undefined): Promise<LoadedBackend[]> {
  const configFile = await loadConfigFile({ ...(configPath ? { file: configPath } : {}), cwd });
  const searchPaths = pluginSearchPaths({ ...(configFile ? { configFile: configFile.filepath } : {}), cwd });
  const found: LoadedBackend[] = [];
  const warn = (name: string, where: string, err: unknown) => {
    for (const line of formatError(err, { level: 'warning', context: `skipping ${name} (${where})` })) console.error(line);
  };
  for (const entry of configFile?.config.plugins ?? []) {
    const where = path.dirname(configFile!.filepath);
    try {
      found.push(await loadBackend(entry, { searchPaths, cwd: where }));
    } catch (err) {
      warn(entry, configFile!.filepath, err);
    }
  }
  found.push(...await findBackends({ searchPaths, cwd, onError: warn }));
  const seen = new Set<string>();
  return found.filter(({ plugin }) => !seen.has(plugin.type) && seen.add(plugin.type));
}

function toJson({ plugin, packageName, version, location }: LoadedBackend) {
  return {
    type: plugin.type,
    package: packageName,
    version,
    location,
    ...(plugin.description ? { description: plugin.description } : {}),
    options: describeOptions(plugin.optionsSchema).map((o) => ({
      name: o.key,
      flag: o.flag,
      type: o.type,
      ...(o.enum ? { enum: o.enum } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
      required: o.required,
      secret: o.secret,
      ...(o.env ? { env: o.env } : {}),
      ...(o.description ? { description: o.description } : {}),
    })),
  };
}

function table(backends: LoadedBackend[]): string {
  if (backends.length === 0) return 'No backend plugins found. Install one, e.g. npm i -g pyrestserver-backend-drime\n';
  const blocks = backends.map(({ plugin, packageName, version, location }) => {
    const head = columns([
      ['type', plugin.type],
      ['package', `${packageName}${version ? `@${version}` : ''}`],
      ['found in', location],
      ...(plugin.description ? [['about', plugin.description] as [string, string]] : []),
    ].map(([k, v]) => [`${k}:`, v]));
    const options = describeOptions(plugin.optionsSchema);
    const rows = options.map((o) => [
      o.key,
      o.valueText,
      o.default === undefined ? '-' : JSON.stringify(o.default),
      [o.required ? 'required' : '', o.secret ? 'secret' : ''].filter(Boolean).join(',') || '-',
      o.env ?? '-',
      o.description ?? '',
    ]);
    const body = options.length
      ? columns([['OPTION', 'TYPE', 'DEFAULT', 'NOTES', 'ENV', 'DESCRIPTION'], ...rows]).map((l) => `  ${l}`)
      : ['  (no options)'];
    return [...head, ...body].join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

/** Rows padded into aligned columns (the last column unpadded). */
function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}
