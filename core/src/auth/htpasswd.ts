import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import { CredentialCache } from './credential-cache.js';
import { costKey, DUMMY_BCRYPT, dummyHashLike, hashKind, verifyHash } from './hashes.js';

/** rest-server's rule for user names: letters, digits, `@`, `.`, `_`, `-`. */
const VALID_USER = /^[\p{L}\d@._-]+$/u;
/** Wait this long after the last change event before reading the file again. */
const RELOAD_DEBOUNCE_MS = 150;

export interface ParsedHtpasswd {
  /** User name -> hash, for entries in a supported format only. */
  users: Map<string, string>;
  /** One line per skipped entry, naming the user (never the hash). */
  warnings: string[];
}

/** Parse htpasswd text: `user:hash` lines, `#` comments and blank lines ignored. */
export function parseHtpasswd(text: string): ParsedHtpasswd {
  const users = new Map<string, string>();
  const warnings: string[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      warnings.push(`line ${index + 1}: not a user:hash entry, ignored`);
      continue;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).split(':')[0]!;
    if (!VALID_USER.test(user)) {
      warnings.push(`user ${JSON.stringify(user)}: invalid user name (letters, digits, '@', '.', '_', '-' only), ignored`);
    } else if (!hashKind(hash)) {
      warnings.push(
        `user ${JSON.stringify(user)}: unsupported password hash (plain text or DES crypt), the user cannot log in; ` +
          'recreate the entry with `htpasswd -B -C 12 FILE USER`',
      );
    } else {
      users.set(user, hash);
    }
  }
  return { users, warnings };
}

/** Where reloads and skipped entries are reported. */
type Log = Pick<FastifyBaseLogger, 'info' | 'warn'>;

export interface HtpasswdOptions {
  logger: Log;
  /** Hash verification; replaceable so tests can count calls. */
  verify?: (hash: string, password: string) => Promise<boolean>;
  cache?: CredentialCache;
  /** Runs each hash verification (LoginGuard.run: a bound on checks in flight); default: at once. */
  limit?: <T>(check: () => Promise<T>) => Promise<T>;
}

/**
 * The hash unknown user names are checked against: one of the kind and cost most of the
 * file's users have (a random one nobody knows the password of), so that a wrong user name
 * takes as long as a wrong password. The second value lists the cost keys when they differ.
 */
export function dummyFor(users: ReadonlyMap<string, string>): { dummy: Promise<string>; mixed?: string[] } {
  const counts = new Map<string, { n: number; hash: string }>();
  for (const hash of users.values()) {
    const key = costKey(hash)!;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { n: 1, hash });
  }
  if (counts.size === 0) return { dummy: Promise.resolve(DUMMY_BCRYPT) };
  const [common] = [...counts.values()].sort((a, b) => b.n - a.n);
  const dummy = dummyHashLike(common!.hash).catch(() => DUMMY_BCRYPT);
  return { dummy, ...(counts.size > 1 ? { mixed: [...counts.keys()] } : {}) };
}

/**
 * The users of an htpasswd file, kept current: `watch()` reloads the file when it
 * changes (also when an editor replaces it), `reload()` does so on demand (SIGHUP).
 * A reload that fails (file missing, unreadable) keeps the users already loaded.
 */
export class HtpasswdFile {
  readonly path: string;
  readonly #logger: Log;
  readonly #verify: (hash: string, password: string) => Promise<boolean>;
  readonly #cache: CredentialCache;
  readonly #limit: <T>(check: () => Promise<T>) => Promise<T>;
  /** Made when the file is read (bcrypt's on the thread pool), so usually ready by the first request. */
  #dummy = Promise.resolve(DUMMY_BCRYPT);
  /** Verifications running now, by credential digest: concurrent requests share one. */
  readonly #inflight = new Map<string, Promise<boolean>>();
  #users = new Map<string, string>();
  /** Bumped on every reload, so that a check started before one is not cached. */
  #generation = 0;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(path: string, options: HtpasswdOptions) {
    this.path = path;
    this.#logger = options.logger;
    this.#verify = options.verify ?? verifyHash;
    this.#cache = options.cache ?? new CredentialCache();
    this.#limit = options.limit ?? ((check) => check());
  }

  /** Load the file; ConfigError AUTH_SETUP when it cannot be read. */
  static async open(path: string, options: HtpasswdOptions): Promise<HtpasswdFile> {
    const file = new HtpasswdFile(path, options);
    try {
      file.#apply(await readFile(path, 'utf8'));
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new ConfigError(
        ConfigErrorCode.AUTH_SETUP,
        missing
          ? `htpasswd file ${path} does not exist`
          : `cannot read htpasswd file ${path}: ${(err as Error).message}`,
        {
          hint: missing
            ? `Create it with \`htpasswd -B -C 12 -c ${path} USER\` (or name another with --htpasswd-file), or pass --no-auth to run without authentication.`
            : 'Check the file permissions, or pass --no-auth to run without authentication.',
          cause: err,
        },
      );
    }
    return file;
  }

  /** How many users can log in. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Read the file again. Resolves false (and logs) when it cannot be read. */
  async reload(): Promise<boolean> {
    try {
      this.#apply(await readFile(this.path, 'utf8'));
      this.#logger.info({ file: this.path, users: this.#users.size }, 'reloaded htpasswd file');
      return true;
    } catch (err) {
      this.#logger.warn(
        { file: this.path, err: (err as Error).message },
        'could not reload htpasswd file; keeping the users loaded before',
      );
      return false;
    }
  }

  #apply(text: string): void {
    const { users, warnings } = parseHtpasswd(text);
    for (const warning of warnings) this.#logger.warn({ file: this.path }, `htpasswd: ${warning}`);
    const { dummy, mixed } = dummyFor(users);
    if (mixed) {
      this.#logger.warn(
        { file: this.path, kinds: mixed },
        'htpasswd: entries of different hash kinds or costs; response times may tell which user names exist. ' +
          'Use one kind and cost for every user (e.g. `htpasswd -B -C 12`)',
      );
    }
    this.#dummy = dummy;
    this.#users = users;
    this.#generation++;
    this.#cache.clear();
  }

  /** True when this user and password verified recently (no hash check: cheap). */
  cached(user: string, password: string): boolean {
    return this.#cache.has(user, this.#cache.digest(user, password));
  }

  /** True when `password` is the password of `user`. */
  async check(user: string, password: string): Promise<boolean> {
    const digest = this.#cache.digest(user, password);
    if (this.#cache.has(user, digest)) return true;
    const key = digest.toString('base64');
    let pending = this.#inflight.get(key);
    if (!pending) {
      const generation = this.#generation;
      pending = this.#limit(() => this.#checkHash(user, password))
        .then((ok) => {
          if (ok && generation === this.#generation) this.#cache.add(user, digest);
          return ok;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #checkHash(user: string, password: string): Promise<boolean> {
    const hash = this.#users.get(user);
    if (hash === undefined) {
      // Same cost as a real user, so timing does not reveal which names exist.
      await this.#verify(await this.#dummy, password);
      return false;
    }
    return this.#verify(hash, password);
  }

  /**
   * Reload when the file changes. Watches the directory, not the file: editors and
   * `htpasswd` replace the file by renaming, which a watch on the old inode would miss.
   */
  watch(): void {
    if (this.#watcher) return;
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed.toString() !== name) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
        this.#timer.unref();
      });
      this.#watcher.on('error', (err) =>
        this.#logger.warn({ file: this.path, err: err.message }, 'htpasswd watch failed; reload with SIGHUP'),
      );
    } catch (err) {
      this.#logger.warn({ file: this.path, err: (err as Error).message }, 'cannot watch htpasswd file; reload with SIGHUP');
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
