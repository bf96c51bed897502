import type { Logger } from 'pino';
import { ConfigError, ConfigErrorCode, hasCode, StorageError, StorageErrorCode } from '../errors.js';
import { BLOB_TYPES, type StorageProvider } from '../storage/types.js';
import type { PolicyOptions } from './index.js';
import type { Access, Policy } from './types.js';
import { ownerOf } from './settings.js';

/** One limited space: the whole store, a user's repositories, or one repository. */
interface Scope {
  readonly label: string;
  readonly limit: number;
  /** Bytes stored plus bytes reserved by uploads in flight. */
  used: number;
}

const limited = (n: number | undefined): n is number => typeof n === 'number' && n > 0;

/**
 * Bytes charged for creating a repository (one that did not exist yet): about a folder's
 * block, so that creating repositories cannot go on once a quota is used up. Held while the
 * server runs; after a restart usage is counted from the stored files again.
 */
export const REPOSITORY_CHARGE_BYTES = 4096;

const isRootRepoEntry = (name: string) => name === 'config' || (BLOB_TYPES as readonly string[]).includes(name);

/** True when the options ask for any quota. */
export function anyQuota(options: PolicyOptions): boolean {
  return (
    limited(options.maxSize) ||
    Object.values(options.users ?? {}).some((u) => limited(u.maxSize)) ||
    Object.values(options.repos ?? {}).some((r) => limited(r.maxSize))
  );
}

/** Bytes a repository holds: every file of every type, plus its config. */
export async function repositorySize(provider: StorageProvider, repo: string): Promise<number> {
  const sizes = await Promise.all([
    ...BLOB_TYPES.map(async (type) => {
      let sum = 0;
      try {
        for await (const file of provider.list(repo, type)) sum += file.size;
      } catch (err) {
        if (!hasCode(err, StorageErrorCode.NOT_FOUND)) throw err;
      }
      return sum;
    }),
    provider.stat({ repo, type: 'config', name: 'config' }).then(
      (s) => s.size,
      (err: unknown) => {
        if (hasCode(err, StorageErrorCode.NOT_FOUND)) return 0;
        throw err;
      },
    ),
  ]);
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Quotas: `--max-size` over the whole store, `users.NAME.maxSize` over the repositories
 * below a user's name, `repos.PATH.maxSize` over one repository. Usage is counted from
 * the provider at start, then kept current from uploads and deletes.
 *
 * An upload reserves its Content-Length in `authorize`, before its body is read; the
 * reservation becomes usage when the write succeeds and is released when it fails,
 * so a failed or aborted upload does not eat quota.
 */
export class QuotaPolicy implements Policy {
  readonly name = 'quota';
  readonly needsDeletedSize = true;
  readonly #options: PolicyOptions;
  readonly #total: Scope | undefined;
  readonly #scopes = new Map<string, Scope>();
  /** Bytes each upload in flight reserved, by its Access object. */
  readonly #reserved = new WeakMap<Access, number>();

  readonly #provider: StorageProvider;

  private constructor(options: PolicyOptions, provider: StorageProvider) {
    this.#options = options;
    this.#provider = provider;
    if (limited(options.maxSize)) this.#total = { label: 'the server (--max-size)', limit: options.maxSize, used: 0 };
  }

  /** Build the policy and count the usage the store has now. */
  static async create(options: PolicyOptions, provider: StorageProvider, logger?: Logger): Promise<QuotaPolicy> {
    const policy = new QuotaPolicy(options, provider);
    const started = Date.now();
    const byFiles = policy.#needsAll() && provider.storedFiles !== undefined;
    if (byFiles) await policy.#countStoredFiles(provider);
    for (const repo of await policy.#reposToCount(provider, byFiles)) {
      const size = await repositorySize(provider, repo);
      for (const scope of byFiles ? policy.#repoScopes(repo) : policy.scopesOf(repo)) scope.used += size;
    }
    logger?.info(
      { ms: Date.now() - started, ...(policy.#total ? { used: policy.#total.used, limit: policy.#total.limit } : {}) },
      'quota usage counted',
    );
    return policy;
  }

  #needsAll(): boolean {
    return this.#total !== undefined || Object.values(this.#options.users ?? {}).some((u) => limited(u.maxSize));
  }

  /**
   * The whole store's and the users' usage from every stored file (rest-server's count):
   * bytes in folders without a `config` are not forgotten after a restart.
   */
  async #countStoredFiles(provider: StorageProvider): Promise<void> {
    for await (const file of provider.storedFiles!()) {
      if (this.#total) this.#total.used += file.size;
      const first = file.path.split('/')[0]!;
      // The root repository's own files (config, data/...) belong to no user.
      const owner = file.path.includes('/') && !isRootRepoEntry(first) ? first : undefined;
      const limit = owner !== undefined ? this.#options.users?.[owner]?.maxSize : undefined;
      if (owner !== undefined && limited(limit)) this.#scope(`user:${owner}`, `user ${owner}`, limit).used += file.size;
    }
  }

  /** Only the repository's own limit (the whole store and its user are counted from the files). */
  #repoScopes(repo: string): Scope[] {
    const limit = this.#options.repos?.[repo]?.maxSize;
    return limited(limit) ? [this.#scope(`repo:${repo}`, `repository ${JSON.stringify(repo)}`, limit)] : [];
  }

  async #reposToCount(provider: StorageProvider, byFiles: boolean): Promise<string[]> {
    if (this.#needsAll() && !byFiles) {
      if (!provider.repositories) {
        throw new ConfigError(
          ConfigErrorCode.OPTIONS_INVALID,
          'a quota over the whole store (--max-size) or over a user needs a backend that can list its repositories',
        );
      }
      const repos: string[] = [];
      for await (const repo of provider.repositories()) if (this.scopesOf(repo).length > 0) repos.push(repo);
      return repos;
    }
    const repos: string[] = [];
    for (const [repo, settings] of Object.entries(this.#options.repos ?? {})) {
      if (limited(settings.maxSize) && (await provider.repositoryExists(repo))) repos.push(repo);
    }
    return repos;
  }

  /** The limited spaces a repository counts towards. */
  scopesOf(repo: string): Scope[] {
    const scopes: Scope[] = [];
    if (this.#total) scopes.push(this.#total);
    const owner = ownerOf(repo);
    const userLimit = owner !== undefined ? this.#options.users?.[owner]?.maxSize : undefined;
    if (owner !== undefined && limited(userLimit)) scopes.push(this.#scope(`user:${owner}`, `user ${owner}`, userLimit));
    const repoLimit = this.#options.repos?.[repo]?.maxSize;
    if (limited(repoLimit)) scopes.push(this.#scope(`repo:${repo}`, `repository ${JSON.stringify(repo)}`, repoLimit));
    return scopes;
  }

  #scope(key: string, label: string, limit: number): Scope {
    let scope = this.#scopes.get(key);
    if (!scope) this.#scopes.set(key, (scope = { label, limit, used: 0 }));
    return scope;
  }

  /**
   * Every configured limit with its use (stored + reserved bytes), for /metrics: `server`
   * (--max-size, name ''), `user` (users.NAME.maxSize) and `repo` (repos.PATH.maxSize).
   */
  *limits(): Iterable<{ scope: 'server' | 'user' | 'repo'; name: string; limit: number; used: number }> {
    if (this.#total) yield { scope: 'server', name: '', limit: this.#total.limit, used: this.#total.used };
    for (const [kind, settings] of [['user', this.#options.users], ['repo', this.#options.repos]] as const) {
      for (const [name, { maxSize }] of Object.entries(settings ?? {})) {
        if (!limited(maxSize)) continue;
        const scope = this.#scope(`${kind}:${name}`, kind === 'user' ? `user ${name}` : `repository ${JSON.stringify(name)}`, maxSize);
        yield { scope: kind, name, limit: scope.limit, used: scope.used };
      }
    }
  }

  /** Bytes counted against the whole store (stored + reserved), when --max-size is set. */
  get used(): number | undefined {
    return this.#total?.used;
  }

  authorize(access: Access): void | Promise<void> {
    if (access.op === 'create') return this.#authorizeCreate(access.repo);
    if (access.op !== 'write') return;
    const size = access.size;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new StorageError(StorageErrorCode.INVALID_INPUT, 'an upload must announce its Content-Length when a quota is set');
    }
    const scopes = this.scopesOf(access.repo);
    for (const scope of scopes) {
      if (scope.used + size > scope.limit) {
        throw new StorageError(
          StorageErrorCode.INSUFFICIENT_STORAGE,
          `upload of ${size} bytes would exceed the quota of ${scope.label}: ${scope.used} of ${scope.limit} bytes used`,
        );
      }
    }
    for (const scope of scopes) scope.used += size;
    this.#reserved.set(access, size);
  }

  /**
   * Creating a repository is refused (507) once a limit it counts towards is used up,
   * and a new one is charged REPOSITORY_CHARGE_BYTES: creating repositories cannot fill the
   * disk or its inodes past the quota. Creating one that exists already is free.
   */
  async #authorizeCreate(repo: string): Promise<void> {
    const scopes = this.scopesOf(repo);
    if (scopes.length === 0 || (await this.#provider.repositoryExists(repo))) return;
    for (const scope of scopes) {
      if (scope.used >= scope.limit) {
        throw new StorageError(
          StorageErrorCode.INSUFFICIENT_STORAGE,
          `creating repository ${JSON.stringify(repo)} refused: the quota of ${scope.label} is used up (${scope.used} of ${scope.limit} bytes)`,
        );
      }
    }
    for (const scope of scopes) scope.used += REPOSITORY_CHARGE_BYTES;
  }

  written(access: Access, size: number): void {
    const reserved = this.#reserved.get(access);
    this.#reserved.delete(access);
    this.#add(access.repo, size - (reserved ?? 0));
  }

  writeFailed(access: Access): void {
    const reserved = this.#reserved.get(access);
    if (reserved === undefined) return;
    this.#reserved.delete(access);
    this.#add(access.repo, -reserved);
  }

  deleted(access: Access, size: number): void {
    this.#add(access.repo, -size);
  }

  #add(repo: string, bytes: number): void {
    if (bytes === 0) return;
    for (const scope of this.scopesOf(repo)) scope.used = Math.max(0, scope.used + bytes);
  }
}
