/**
 * What each repository holds: files and bytes by type, and the time of its newest snapshot.
 * `walkRepository` counts one repository through the provider (one listing per type and a
 * stat of `config`); `RepoStatsTracker` walks every repository once, in the background, and
 * then keeps the counts current from the server's own writes and deletes, so that /metrics
 * never walks the store.
 */
import type { Logger } from 'pino';
import { hasCode, StorageErrorCode } from './errors.js';
import { BLOB_TYPES, type FileType, type StorageProvider } from './storage/types.js';

export const FILE_TYPES: readonly FileType[] = [...BLOB_TYPES, 'config'];

export interface TypeStats {
  files: number;
  bytes: number;
}

export interface RepoStats {
  readonly repo: string;
  readonly types: Record<FileType, TypeStats>;
  /**
   * When the newest snapshot file was stored (ms since the epoch). Undefined when there is
   * no snapshot, or when the backend's listing gives no times (`FileInfo.modified`) and no
   * snapshot was uploaded through this server since it started.
   */
  newestSnapshot?: number;
}

const emptyTypes = (): Record<FileType, TypeStats> =>
  Object.fromEntries(FILE_TYPES.map((t) => [t, { files: 0, bytes: 0 }])) as Record<FileType, TypeStats>;

/** Bytes over every type, `config` included. */
export const totalBytes = (stats: RepoStats): number => FILE_TYPES.reduce((sum, t) => sum + stats.types[t].bytes, 0);
/** Files over every type, `config` included. */
export const totalFiles = (stats: RepoStats): number => FILE_TYPES.reduce((sum, t) => sum + stats.types[t].files, 0);

/**
 * Count one repository. Undefined when it does not exist (NOT_FOUND); other errors are thrown.
 * `onFile` is called for each file listed (progress of a long walk).
 */
export async function walkRepository(provider: StorageProvider, repo: string, onFile?: () => void): Promise<RepoStats | undefined> {
  const stats: RepoStats = { repo, types: emptyTypes() };
  try {
    await Promise.all([
      ...BLOB_TYPES.map(async (type) => {
        const into = stats.types[type];
        for await (const file of provider.list(repo, type)) {
          into.files++;
          into.bytes += file.size;
          onFile?.();
          if (type === 'snapshots' && file.modified !== undefined && !(file.modified <= (stats.newestSnapshot ?? -Infinity))) {
            stats.newestSnapshot = file.modified;
          }
        }
      }),
      provider.stat({ repo, type: 'config', name: 'config' }).then(
        ({ size }) => { stats.types.config = { files: 1, bytes: size }; },
        (err: unknown) => { if (!hasCode(err, StorageErrorCode.NOT_FOUND)) throw err; },
      ),
    ]);
  } catch (err) {
    if (hasCode(err, StorageErrorCode.NOT_FOUND)) return undefined;
    throw err;
  }
  return stats;
}

interface Entry {
  state: 'pending' | 'walking' | 'ready';
  /** An event arrived while the repository was being walked: walk it again. */
  dirty: boolean;
  stats?: RepoStats;
}

/** Walks of one repository in a row that a stream of writes may force; after that the last count stands. */
const MAX_REWALKS = 3;

/**
 * Per-repository counts for /metrics. Cost: one walk of the store at start (every listing of
 * every repository, in the background, one repository at a time: the same listings the quota
 * count makes), then O(1) per write or delete (a Map lookup and two additions), and O(repositories)
 * per scrape. Memory: one small record per repository.
 *
 * Consistency while walking: an event for a repository not walked yet is ignored (its walk
 * will see the file); one for a repository being walked marks it for another walk; one for
 * a repository never heard of (created since start, or a backend that cannot list its
 * repositories) queues a walk of it.
 */
export class RepoStatsTracker {
  readonly #provider: StorageProvider;
  readonly #logger: Logger | undefined;
  readonly #repos = new Map<string, Entry>();
  readonly #queue: string[] = [];
  #walking = false;
  #closed = false;
  /** Resolves when the start-up walk (and anything queued meanwhile) is done; for tests. */
  #idle: Promise<void> = Promise.resolve();
  #enumerating: Promise<void> = Promise.resolve();

  constructor(provider: StorageProvider, logger?: Logger) {
    this.#provider = provider;
    this.#logger = logger;
  }

  /** Start the background walk of every repository (when the provider can list them). */
  start(): void {
    const repositories = this.#provider.repositories?.bind(this.#provider);
    if (!repositories) return;
    const started = Date.now();
    this.#enumerating = (async () => {
      try {
        for await (const repo of repositories()) {
          if (this.#closed) return;
          this.#ensure(repo);
        }
      } catch (err) {
        this.#logger?.warn({ err: (err as Error).message }, 'repository statistics: listing the repositories failed');
      }
    })();
    void this.settled().then(() => {
      if (!this.#closed) this.#logger?.info({ ms: Date.now() - started, repositories: this.#repos.size }, 'repository statistics counted');
    });
  }

  /** Resolves once every known repository is counted (for tests and `repos`-style callers). */
  async settled(): Promise<void> {
    await this.#enumerating;
    while (this.#walking || this.#queue.length > 0) await this.#idle;
  }

  written(repo: string, type: FileType, size: number): void {
    const stats = this.#current(repo);
    if (!stats) return;
    const t = stats.types[type];
    t.files++;
    t.bytes += size;
    if (type === 'snapshots') stats.newestSnapshot = Date.now();
  }

  deleted(repo: string, type: FileType, size: number): void {
    const stats = this.#current(repo);
    if (!stats) return;
    const t = stats.types[type];
    t.files = Math.max(0, t.files - 1);
    t.bytes = Math.max(0, t.bytes - size);
    if (type === 'snapshots' && t.files === 0) delete stats.newestSnapshot;
  }

  /** Counted repositories (not those still waiting for their walk). */
  *counted(): Iterable<RepoStats> {
    for (const entry of this.#repos.values()) if (entry.stats && entry.state === 'ready') yield entry.stats;
  }

  /** Repositories known but not counted yet. */
  get pending(): number {
    let n = 0;
    for (const entry of this.#repos.values()) if (entry.state !== 'ready') n++;
    return n;
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }

  /** The stats to update for an event, or undefined when the event is left to a walk. */
  #current(repo: string): RepoStats | undefined {
    const entry = this.#repos.get(repo);
    if (!entry) {
      this.#ensure(repo);
      return undefined;
    }
    if (entry.state === 'walking') entry.dirty = true;
    return entry.state === 'ready' ? entry.stats : undefined;
  }

  #ensure(repo: string): void {
    if (this.#repos.has(repo) || this.#closed) return;
    this.#repos.set(repo, { state: 'pending', dirty: false });
    this.#queue.push(repo);
    if (!this.#walking) this.#idle = this.#drain();
  }

  async #drain(): Promise<void> {
    this.#walking = true;
    try {
      for (let repo = this.#queue.shift(); repo !== undefined && !this.#closed; repo = this.#queue.shift()) {
        await this.#walk(repo);
      }
    } finally {
      this.#walking = false;
    }
  }

  async #walk(repo: string): Promise<void> {
    const entry = this.#repos.get(repo)!;
    try {
      for (let round = 0; ; round++) {
        entry.state = 'walking';
        entry.dirty = false;
        const stats = await walkRepository(this.#provider, repo);
        if (!stats) {
          // Not there (a create that failed, or that has not finished): the next event asks again.
          this.#repos.delete(repo);
          return;
        }
        if (!entry.dirty || round + 1 >= MAX_REWALKS) {
          entry.stats = stats;
          entry.state = 'ready';
          return;
        }
      }
    } catch (err) {
      this.#repos.delete(repo);
      if (this.#closed) return; // the provider is closing under the walk
      this.#logger?.warn({ repo, err: (err as Error).message }, 'repository statistics: counting a repository failed; it is counted again on its next upload or delete');
    }
  }
}
