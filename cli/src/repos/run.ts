/**
 * `pyrestserver repos`: open the backend as `serve` would (same flags, config file and
 * backends.toml), walk every repository once, and print a table or JSON.
 */
import {
  ConfigError, ConfigErrorCode, formatSize, totalBytes, totalFiles, walkRepository,
  BLOB_TYPES, type RepoStats, type StorageProvider,
} from '@pyrestserver/core';
import { pino } from 'pino';
import { prepareServe, resolveServeSettings, type ServeSettings } from '../serve/settings.js';
import { startBackend } from '../commands/serve.js';
import { Progress, type ProgressStream } from './progress.js';

export interface ReposIO {
  out: (text: string) => void;
  /** Where progress goes (stderr): redrawn in place on a terminal, a line now and then elsewhere. */
  progress: ProgressStream;
}

export interface Quota {
  scope: 'server' | 'user' | 'repo';
  name: string;
  limit: number;
  used: number;
}

export interface RepoReport extends RepoStats {
  bytes: number;
  files: number;
  quotas: Quota[];
}

/** Repositories walked at once (hides a remote backend's latency; a disk does not mind). */
const PARALLEL = 4;

export async function runRepos(rawArgs: readonly string[], context: { env: NodeJS.ProcessEnv; cwd: string }, io: ReposIO): Promise<number> {
  const json = rawArgs.includes('--json');
  const args = rawArgs.filter((a) => a !== '--json');
  const prepared = await prepareServe(args, context);
  const settings = resolveServeSettings(prepared, args, context, 'repos');
  const logger = pino({ level: settings.debug ? 'debug' : 'warn' }, pino.destination(2));
  const provider = await startBackend(settings, logger);
  try {
    const reports = await walkStore(provider, settings, io.progress);
    io.out(json ? `${JSON.stringify(reports.map(toJson), null, 2)}\n` : table(reports));
    return 0;
  } finally {
    await provider.close?.();
  }
}

async function walkStore(provider: StorageProvider, settings: ServeSettings, stream: ProgressStream): Promise<RepoReport[]> {
  if (!provider.repositories) {
    throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `the ${settings.backend.plugin.type} backend cannot list its repositories`);
  }
  const progress = new Progress(stream);
  const found: RepoStats[] = [];
  const queue: string[] = [];
  let listed = false;
  try {
    const enumerate = (async () => {
      for await (const repo of provider.repositories!()) {
        queue.push(repo);
        progress.found++;
      }
      listed = true;
    })();
    const worker = async () => {
      while (!listed || queue.length > 0) {
        const repo = queue.shift();
        if (repo === undefined) {
          await Promise.race([enumerate, new Promise((r) => setTimeout(r, 5))]);
          continue;
        }
        const stats = await walkRepository(provider, repo, () => progress.files++);
        if (stats) found.push(stats);
        progress.done++;
      }
    };
    await Promise.all([enumerate, ...Array.from({ length: PARALLEL }, worker)]);
  } finally {
    progress.stop();
  }
  found.sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0));
  return withQuotas(found, settings.server);
}

/** Each repository's quotas, as the server counts them: the whole store, its owner's, its own. */
export function withQuotas(found: RepoStats[], options: ServeSettings['server']): RepoReport[] {
  const owner = (repo: string) => repo.split('/')[0] || undefined;
  const sizes = new Map(found.map((s) => [s.repo, totalBytes(s)]));
  const sum = (pick: (repo: string) => boolean) => [...sizes].reduce((n, [repo, bytes]) => (pick(repo) ? n + bytes : n), 0);
  const limited = (n: number | undefined): n is number => typeof n === 'number' && n > 0;
  const storeUsed = sum(() => true);
  return found.map((stats) => {
    const quotas: Quota[] = [];
    if (limited(options.maxSize)) quotas.push({ scope: 'server', name: '', limit: options.maxSize, used: storeUsed });
    const user = owner(stats.repo);
    const userLimit = user === undefined ? undefined : options.users?.[user]?.maxSize;
    if (user !== undefined && limited(userLimit)) quotas.push({ scope: 'user', name: user, limit: userLimit, used: sum((r) => owner(r) === user) });
    const repoLimit = options.repos?.[stats.repo]?.maxSize;
    if (limited(repoLimit)) quotas.push({ scope: 'repo', name: stats.repo, limit: repoLimit, used: sizes.get(stats.repo)! });
    return { ...stats, bytes: sizes.get(stats.repo)!, files: totalFiles(stats), quotas };
  });
}

function toJson(r: RepoReport) {
  return {
    repo: r.repo,
    bytes: r.bytes,
    files: r.files,
    types: r.types,
    newestSnapshot: r.newestSnapshot === undefined ? null : new Date(r.newestSnapshot).toISOString(),
    quotas: r.quotas,
  };
}

const display = (repo: string) => (repo === '' ? '/' : repo);

function table(reports: RepoReport[]): string {
  if (reports.length === 0) return 'No repositories.\n';
  const head = ['REPOSITORY', 'SIZE', ...BLOB_TYPES.map((t) => t.toUpperCase()), 'NEWEST SNAPSHOT', 'QUOTA'];
  const rows = reports.map((r) => [
    display(r.repo),
    formatSize(r.bytes),
    ...BLOB_TYPES.map((t) => String(r.types[t].files)),
    newest(r),
    quotaText(r.quotas),
  ]);
  const total = reports.reduce((n, r) => n + r.bytes, 0);
  const lines = columns([head, ...rows], new Set([1, 2, 3, 4, 5, 6]));
  return `${lines.join('\n')}\n${reports.length} repositories, ${formatSize(total)}\n`;
}

function newest(r: RepoReport): string {
  if (r.newestSnapshot !== undefined) return new Date(r.newestSnapshot).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  return r.types.snapshots.files > 0 ? 'unknown' : '-';
}

/** The fullest quota: `45% of 500 GiB (user alice)`. */
function quotaText(quotas: Quota[]): string {
  if (quotas.length === 0) return '-';
  const fullest = quotas.reduce((a, b) => (b.used / b.limit > a.used / a.limit ? b : a));
  const percent = Math.floor((fullest.used / fullest.limit) * 100);
  const what = fullest.scope === 'server' ? '--max-size' : fullest.scope === 'user' ? `user ${fullest.name}` : 'repository';
  return `${percent}% of ${formatSize(fullest.limit)} (${what})`;
}

/** Rows padded into aligned columns; columns in `right` are right-aligned. */
function columns(rows: string[][], right: Set<number>): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r.map((cell, i) => (i === r.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}
