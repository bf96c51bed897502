/** Drime "file entries" (files and folders) and how one name maps to one entry. */

export interface FileEntry {
  readonly id: number;
  readonly name: string;
  readonly type: string;
  readonly hash: string;
  readonly file_size: number | null;
  readonly parent_id: number | null;
  readonly workspace_id?: number;
  readonly users?: readonly unknown[];
  readonly deleted_at?: string | null;
}

/** A folder's id; `null` is the workspace root. */
export type FolderId = number | null;

export const isFolder = (entry: FileEntry) => entry.type === 'folder';

/** A finished upload lists its uploader; one with an empty `users` list never completed. */
export const isComplete = (entry: FileEntry) => isFolder(entry) || (entry.users?.length ?? 0) > 0;

/** A file entry is what we sent when it is complete, named as asked and of the size sent. */
export const matchesUpload = (entry: FileEntry | undefined, name: string, size: number) =>
  entry !== undefined && !isFolder(entry) && isComplete(entry) && entry.name === name && entry.file_size === size;

const byId = (a: FileEntry, b: FileEntry) => a.id - b.id;

/**
 * The entry a name stands for, among entries of one folder sharing that name (Drime
 * allows duplicates): the complete one of the wanted kind with the lowest id, the
 * oldest, so the answer never changes while later duplicates come and go.
 */
export function pick(entries: readonly FileEntry[] | undefined, kind: 'file' | 'folder'): FileEntry | undefined {
  let best: FileEntry | undefined;
  for (const entry of entries ?? []) {
    if (isFolder(entry) !== (kind === 'folder') || !isComplete(entry)) continue;
    if (!best || entry.id < best.id) best = entry;
  }
  return best;
}

/** Entries of a name group that are incomplete uploads (to be deleted). */
export const incompleteFiles = (entries: readonly FileEntry[]) =>
  entries.filter((entry) => !isFolder(entry) && !isComplete(entry)).sort(byId);

/** Folder children grouped by name, each group sorted by id. */
export type Children = ReadonlyMap<string, readonly FileEntry[]>;

export function groupByName(entries: Iterable<FileEntry>): Map<string, FileEntry[]> {
  const groups = new Map<string, FileEntry[]>();
  for (const entry of entries) {
    const group = groups.get(entry.name);
    if (group) group.push(entry);
    else groups.set(entry.name, [entry]);
  }
  for (const group of groups.values()) group.sort(byId);
  return groups;
}
