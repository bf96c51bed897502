import type { CAC } from 'cac';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  addBackendConfig, BACKENDS_FILE, backendToml, configDir, describeOptions, editBackendConfig, findBackendConfig, listBackendConfigs,
  loadBackend, removeBackendConfig, showBackendConfig,
  type BackendPlugin, type ShownBackend, type StoreOptions,
} from '@pyrestserver/core';
import { pluginSearchPaths } from '../plugin-search.js';
import { formatError, usageError } from '../errors.js';
import { argsAfter, terminal } from './raw-args.js';

export interface ConfigIO {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (text: string) => void;
  err: (line: string) => void;
}

const USAGE = [
  'config list [--json]',
  'config show NAME [--reveal] [--json]',
  'config add NAME --type TYPE [--force] [--OPTION VALUE ...]',
  'config edit NAME [--OPTION VALUE ...] [--unset OPTION ...]',
  'config remove NAME',
];

/** `pyrestserver config ...`: named backend configurations in backends.toml. */
export function registerConfig(cli: CAC, context = { env: process.env, cwd: process.cwd() }): void {
  cli
    .command('config [action] [...args]', `Manage named backends in ${BACKENDS_FILE}: list, show, add, edit, remove`)
    .usage(`config <action> ...\n\n  ${USAGE.join('\n  ')}\n\n  Options are the backend's, as flags: api_key -> --api-key. Secrets are obscured (not encrypted).`)
    .example('pyrestserver config add mylocal --type local --path /srv/restic')
    .example('pyrestserver config add mydrime --type drime --api-key KEY --workspace-id 0')
    .example('pyrestserver serve --backend-config mydrime --listen :8001')
    .allowUnknownOptions()
    .action(() => runConfig(argsAfter(cli, 'config'), { ...context, ...terminal }));
}

/** Run `config <action> ...` (the arguments after `config`); resolves to the exit code. */
export async function runConfig(args: string[], io: ConfigIO): Promise<number> {
  const [action, ...rest] = args;
  const store: StoreOptions = { env: io.env, cwd: io.cwd, searchPaths: pluginSearchPaths({ cwd: io.cwd }) };
  switch (action) {
    case 'list': return list(rest, store, io);
    case 'show': return show(rest, store, io);
    case 'add': return add(rest, store, io);
    case 'edit': return edit(rest, store, io);
    case 'remove': return remove(rest, store, io);
    default:
      throw usageError(
        action === undefined ? 'config needs an action' : `unknown config action: ${action}`,
        `Usage:\n  pyrestserver ${USAGE.join('\n  pyrestserver ')}`,
      );
  }
}

type Spec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/** Strict parse: values stay the strings typed; an unknown flag is a usage error naming it. */
function parse(args: string[], options: Spec, action: string, known?: () => string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    // Node's text for an unknown option goes on about positionals; name the flag only.
    const unknown = /^Unknown option '([^']+)'/.exec((err as Error).message)?.[1];
    const message = unknown ? `unknown option ${unknown}` : (err as Error).message;
    throw usageError(`config ${action}: ${message}`, known?.() ?? `Usage:\n  pyrestserver ${USAGE.find((u) => u.startsWith(`config ${action}`))}`);
  }
}

/** The one NAME an action takes. */
function nameOf(positionals: string[], action: string): string {
  if (positionals.length !== 1) {
    throw usageError(
      positionals.length === 0 ? `config ${action} needs a NAME` : `config ${action} takes one NAME, got: ${positionals.join(' ')}`,
      `Usage:\n  pyrestserver ${USAGE.find((u) => u.startsWith(`config ${action}`))}`,
    );
  }
  return positionals[0]!;
}

/** The backend's options as flags (`api_key` -> `--api-key`, booleans also `--no-x`), beside the action's own flags. */
function optionFlags(plugin: BackendPlugin, own: Spec): { spec: Spec; keyOf: Map<string, string>; negated: Map<string, string> } {
  const spec: Spec = { ...own };
  const keyOf = new Map<string, string>();
  const negated = new Map<string, string>();
  for (const option of describeOptions(plugin.optionsSchema)) {
    const flag = option.flag.slice(2);
    if (flag in own) continue;
    keyOf.set(flag, option.key);
    if (option.type === 'boolean') {
      spec[flag] = { type: 'boolean' };
      spec[`no-${flag}`] = { type: 'boolean' };
      negated.set(`no-${flag}`, option.key);
    } else {
      spec[flag] = { type: 'string', ...(option.type.endsWith('[]') ? { multiple: true } : {}) };
    }
  }
  return { spec, keyOf, negated };
}

/** Parse `args` with the backend's option flags; the options given, snake_case, values as typed. */
function parseOptions(args: string[], plugin: BackendPlugin, own: Spec, action: string) {
  const { spec, keyOf, negated } = optionFlags(plugin, own);
  const known = () => {
    const flags = describeOptions(plugin.optionsSchema).map((o) => o.flag);
    return `The ${plugin.type} backend's options: ${flags.length ? flags.join(', ') : '(none)'}. See \`pyrestserver backends\`.`;
  };
  const { values, positionals } = parse(args, spec, action, known);
  const options: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(values)) {
    if (keyOf.has(flag)) options[keyOf.get(flag)!] = value;
    else if (negated.has(flag)) options[negated.get(flag)!] = false;
  }
  return { values, positionals, options };
}

async function list(args: string[], store: StoreOptions, io: ConfigIO): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } }, 'list');
  const { backends, problems } = await listBackendConfigs(store);
  const shown = await Promise.all(backends.map((b) => showBackendConfig(b, store)));
  const file = path.join(configDir(io.env), BACKENDS_FILE);
  if (values.json) {
    io.out(`${JSON.stringify({
      file,
      backends: shown.map(toJson),
      problems: problems.map((p) => ({ name: p.name, code: p.error.code, message: p.error.message })),
    }, null, 2)}\n`);
  } else {
    for (const p of problems) for (const line of formatError(p.error, { level: 'warning', context: `skipping ${p.name}` })) io.err(line);
    if (shown.length === 0) {
      io.out(`No named backends in ${file}.\nAdd one: pyrestserver config add NAME --type TYPE [--OPTION VALUE ...]\n`);
    } else {
      io.out(table([['NAME', 'TYPE', 'OPTIONS'], ...shown.map((b) => [b.name, b.type, summary(b)])]));
    }
  }
  return 0;
}

/** `path=/srv/restic api_key=********`, and where a PyRestServer file is used. */
function summary(b: ShownBackend): string {
  const options = Object.entries(b.options).map(([k, v]) => `${k}=${typeof v === 'string' && /^[^\s"]+$/.test(v) ? v : JSON.stringify(v)}`);
  if (b.legacy) options.push(`(PyRestServer file ${b.file})`);
  if (b.pluginError) options.push('(backend not installed)');
  return options.join(' ');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

const toJson = (b: ShownBackend) => ({ name: b.name, type: b.type, file: b.file, legacy: b.legacy, options: b.options });

async function show(args: string[], store: StoreOptions, io: ConfigIO): Promise<number> {
  const { values, positionals } = parse(args, { reveal: { type: 'boolean' }, json: { type: 'boolean' } }, 'show');
  const entry = await findBackendConfig(nameOf(positionals, 'show'), store);
  const shown = await showBackendConfig(entry, { ...store, reveal: values.reveal === true });
  if (shown.pluginError) for (const line of formatError(shown.pluginError, { level: 'warning' })) io.err(line);
  if (values.json) {
    io.out(`${JSON.stringify(toJson(shown), null, 2)}\n`);
  } else {
    const from = shown.legacy ? `PyRestServer's file ${shown.file}` : shown.file;
    io.out(`# ${from}${values.reveal ? '' : ' (secrets masked; --reveal shows them)'}\n`);
    io.out(backendToml(shown));
  }
  return 0;
}

async function add(args: string[], store: StoreOptions, io: ConfigIO): Promise<number> {
  const own: Spec = { type: { type: 'string' }, force: { type: 'boolean' } };
  const type = parseArgs({ args, options: own, strict: false, allowPositionals: true }).values.type;
  if (typeof type !== 'string' || type === '') throw usageError('config add needs --type TYPE (e.g. local, drime)', 'See `pyrestserver backends` for the installed types.');
  const { plugin } = await loadBackend(type, store);
  const { values, positionals, options } = parseOptions(args, plugin, own, 'add');
  const name = nameOf(positionals, 'add');
  const saved = await addBackendConfig(name, type, options, { ...store, force: values.force === true });
  io.out(`Saved backend "${saved.name}" (${saved.type}) to ${saved.file}\nServe it: pyrestserver serve --backend-config ${saved.name}\n`);
  return 0;
}

async function edit(args: string[], store: StoreOptions, io: ConfigIO): Promise<number> {
  const own: Spec = { unset: { type: 'string', multiple: true } };
  // The backend's flags are known only once its entry is found: NAME comes first.
  const name = nameOf(args[0] === undefined || args[0].startsWith('-') ? [] : [args[0]], 'edit');
  if (args.some((a) => a === '--type' || a.startsWith('--type='))) {
    throw usageError('config edit cannot change the type', `Replace the entry: pyrestserver config add ${name} --type TYPE --force ...`);
  }
  const entry = await findBackendConfig(name, store);
  const { plugin } = await loadBackend(entry.type, store);
  const { values, positionals, options } = parseOptions(args.slice(1), plugin, own, 'edit');
  if (positionals.length > 0) throw usageError(`config edit takes one NAME, got also: ${positionals.join(' ')}`);
  for (const flag of (values.unset as string[] | undefined) ?? []) {
    const key = flag.replace(/^--/, '').replace(/-/g, '_');
    if (!(key in entry.options)) throw usageError(`config edit ${name}: --unset ${flag}: the entry has no option ${key}`);
    options[key] = undefined;
  }
  if (Object.keys(options).length === 0) throw usageError(`config edit ${name}: nothing to change`, 'Give options as flags, e.g. --path /srv/restic, or --unset OPTION.');
  const saved = await editBackendConfig(name, options, store);
  io.out(`Updated backend "${saved.name}" (${saved.type}) in ${saved.file}${entry.legacy ? ` (was in PyRestServer's file ${entry.file}, left as it was)` : ''}\n`);
  return 0;
}

async function remove(args: string[], store: StoreOptions, io: ConfigIO): Promise<number> {
  const { positionals } = parse(args, {}, 'remove');
  const name = nameOf(positionals, 'remove');
  const files = await removeBackendConfig(name, store);
  io.out(`Removed backend "${name}" from ${files.join(' and ')}\n`);
  return 0;
}
