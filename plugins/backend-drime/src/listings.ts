/**
 * Folder listings cached by folder id, so that stat, read and the existence check
 * of a write cost no API call once a folder has been listed. Our own writes and
 * deletes update the cache as they happen (also while a reload is in flight: they
 * are journaled and replayed on the fresh listing), so it never shows stale data
 * after them. Entries older than `ttl` are listed again, for changes made elsewhere.
 */
import type { Children, FileEntry, FolderId } from './entry.js';
import { groupByName, incompleteFiles } from './entry.js';

export interface ListingSource {
  listFolder(folderId: FolderId): AsyncIterable<FileEntry>;
}

type Mutation = { readonly add: FileEntry } | { readonly name: string; readonly remove: ReadonlySet<number> };

interface Slot {
  children?: Map<string, FileEntry[]>;
  loadedAt: number;
  loading?: Promise<Map<string, FileEntry[]>>;
  /** A reload queued behind `loading`, shared by callers that need a listing started after their call. */
  after?: Promise<Map<string, FileEntry[]>>;
  journal?: Mutation[];
}

/** One shared `users` value: a listing keeps only whether an entry is complete. */
const SOME_USER: readonly unknown[] = Object.freeze([true]);
const NO_USER: readonly unknown[] = Object.freeze([]);

/** What a cached entry keeps (listings of big data folders must stay small). */
const slim = (e: FileEntry): FileEntry => ({
  id: e.id,
  name: e.name,
  type: e.type,
  hash: e.hash,
  file_size: e.file_size,
  parent_id: e.parent_id ?? null,
  users: e.users?.length ? SOME_USER : NO_USER,
});

export class Listings {
  readonly #source: ListingSource;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #onIncomplete: (folderId: FolderId, entries: FileEntry[]) => void;
  readonly #slots = new Map<number | 'root', Slot>();

  constructor(options: {
    source: ListingSource;
    /** ms a listing stays valid; 0: every lookup lists again. */
    ttl: number;
    now?: () => number;
    /** Called with incomplete uploads found in a fresh listing. */
    onIncomplete: (folderId: FolderId, entries: FileEntry[]) => void;
  }) {
    this.#source = options.source;
    this.#ttl = options.ttl;
    this.#now = options.now ?? Date.now;
    this.#onIncomplete = options.onIncomplete;
  }

  /** The folder's children by name, from the cache while it is fresh. */
  async get(folderId: FolderId): Promise<Children> {
    const slot = this.#slot(folderId);
    if (slot.children && this.#now() - slot.loadedAt < this.#ttl) return slot.children;
    return this.#load(folderId, slot);
  }

  /** List the folder again (joins a reload already in flight). */
  refresh(folderId: FolderId): Promise<Children> {
    return this.#load(folderId, this.#slot(folderId));
  }

  /**
   * A listing that starts after this call, so that it shows every change made before it
   * (by anyone): one already in flight may have started earlier, so a new one is queued
   * behind it, shared by every caller that arrives meanwhile.
   */
  fresh(folderId: FolderId): Promise<Children> {
    const slot = this.#slot(folderId);
    if (!slot.loading) return this.#load(folderId, slot);
    slot.after ??= slot.loading
      .catch(() => undefined)
      .then(() => {
        slot.after = undefined;
        return this.#load(folderId, slot);
      });
    return slot.after;
  }

  /** Forget when the folder was listed: the next `get` lists it again. */
  invalidate(folderId: FolderId): void {
    this.#slot(folderId).loadedAt = Number.NEGATIVE_INFINITY;
  }

  /** A folder we just created: known empty, no call needed. */
  setEmpty(folderId: number): void {
    const slot = this.#slot(folderId);
    slot.children = new Map();
    slot.loadedAt = this.#now();
  }

  /** An entry we created. */
  add(folderId: FolderId, entry: FileEntry): void {
    this.#apply(folderId, { add: slim(entry) });
  }

  /** Entries of `name` we deleted. */
  remove(folderId: FolderId, name: string, ids: Iterable<number>): void {
    this.#apply(folderId, { name, remove: new Set(ids) });
  }

  #slot(folderId: FolderId): Slot {
    const key = folderId ?? 'root';
    let slot = this.#slots.get(key);
    if (!slot) this.#slots.set(key, (slot = { loadedAt: 0 }));
    return slot;
  }

  #apply(folderId: FolderId, mutation: Mutation): void {
    const slot = this.#slot(folderId);
    if (slot.children) applyTo(slot.children, mutation);
    slot.journal?.push(mutation);
  }

  #load(folderId: FolderId, slot: Slot): Promise<Map<string, FileEntry[]>> {
    if (slot.loading) return slot.loading;
    const journal: Mutation[] = (slot.journal = []);
    const startedAt = this.#now();
    const loading = (async () => {
      const entries: FileEntry[] = [];
      for await (const entry of this.#source.listFolder(folderId)) entries.push(slim(entry));
      const children = groupByName(entries);
      // Our own changes made while the pages came in win over what the pages said.
      for (const mutation of journal) applyTo(children, mutation);
      slot.children = children;
      slot.loadedAt = startedAt;
      const incomplete = [...children.values()].flatMap(incompleteFiles);
      if (incomplete.length > 0) this.#onIncomplete(folderId, incomplete);
      return children;
    })().finally(() => {
      if (slot.loading === loading) {
        slot.loading = undefined;
        slot.journal = undefined;
      }
    });
    slot.loading = loading;
    return loading;
  }
}

function applyTo(children: Map<string, FileEntry[]>, mutation: Mutation): void {
  if ('add' in mutation) {
    const group = children.get(mutation.add.name) ?? [];
    if (!group.some((e) => e.id === mutation.add.id)) {
      group.push(mutation.add);
      group.sort((a, b) => a.id - b.id);
    }
    children.set(mutation.add.name, group);
    return;
  }
  const left = (children.get(mutation.name) ?? []).filter((e) => !mutation.remove.has(e.id));
  if (left.length > 0) children.set(mutation.name, left);
  else children.delete(mutation.name);
}
