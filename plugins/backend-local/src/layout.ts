/**
 * Where each file of a repository lives on disk: rest-server 0.14's layout, exactly.
 *
 *   {root}/{repo}/config
 *   {root}/{repo}/data/{first two hex chars of name}/{name}
 *   {root}/{repo}/{keys,locks,snapshots,index}/{name}
 *
 * Every path is built from checked parts only, and checked once more to lie inside
 * the root, so no input can reach outside it (core checks first; this is the second line).
 */
import path from 'node:path';
import { BLOB_TYPES, StorageError, StorageErrorCode, type BlobType, type FileRef } from '@pyrestserver/core';

/** The 256 `data/` subfolders, `00` .. `ff`. */
export const DATA_SUBDIRS: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const BLOB_NAME = /^[0-9a-f]{64}$/;
const BLOB_TYPE_SET = new Set<string>(BLOB_TYPES);

/** True for a name restic could have written: 64 lowercase hex characters. */
export const isBlobName = (name: string): boolean => BLOB_NAME.test(name);

/** True for `data`, `keys`, `locks`, `snapshots`, `index`. */
export const isBlobType = (type: string): type is BlobType => BLOB_TYPE_SET.has(type);

/** Folder and file modes: rest-server's defaults, or its `--group-accessible-repos` modes. */
export interface Modes {
  readonly dir: number;
  readonly file: number;
}
export const modesFor = (groupAccessible: boolean): Modes =>
  groupAccessible ? { dir: 0o770, file: 0o660 } : { dir: 0o700, file: 0o600 };

const invalid = (message: string) => new StorageError(StorageErrorCode.INVALID_INPUT, message);

/** Maps repository paths and file refs to absolute paths under one root folder. */
export class Layout {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** The folder of a repository (`''` is the root itself). */
  repoDir(repo: string): string {
    if (repo === '') return this.root;
    const parts = repo.split('/');
    for (const part of parts) {
      if (part === '' || part.startsWith('.') || /[\\\0]/.test(part)) {
        throw invalid(`invalid repository path ${JSON.stringify(repo)}`);
      }
    }
    return this.inside(path.join(this.root, ...parts));
  }

  /** The folder holding files of one type. */
  typeDir(repo: string, type: BlobType): string {
    if (!isBlobType(type)) throw invalid(`invalid file type ${JSON.stringify(type)}`);
    return path.join(this.repoDir(repo), type);
  }

  /** The folder a file lives in and its absolute path. */
  locate(ref: FileRef): { dir: string; file: string } {
    let dir: string;
    if (ref.type === 'config') {
      if (ref.name !== 'config') throw invalid(`the config file is named "config", not ${JSON.stringify(ref.name)}`);
      dir = this.repoDir(ref.repo);
    } else {
      if (!isBlobName(ref.name)) throw invalid(`invalid file name ${JSON.stringify(ref.name)}`);
      const typeDir = this.typeDir(ref.repo, ref.type);
      dir = ref.type === 'data' ? path.join(typeDir, ref.name.slice(0, 2)) : typeDir;
    }
    return { dir, file: path.join(dir, ref.name) };
  }

  /** `p` when it lies inside the root; INVALID_INPUT otherwise. */
  private inside(p: string): string {
    const rel = path.relative(this.root, p);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return p;
    throw invalid('path outside the data directory');
  }
}
