/**
 * restic's own S3 layout under a prefix: `<prefix>/<repo>/config`,
 * `<prefix>/<repo>/data/<2 hex>/<name>`, `<prefix>/<repo>/{keys,locks,snapshots,index}/<name>`,
 * so `restic -r s3:ENDPOINT/BUCKET/<prefix>/<repo>` opens the same repository.
 * `<prefix>/<repo>/` (an empty "folder" object) marks a repository created before its config.
 */
import type { BlobType, FileRef } from '@pyrestserver/core';

const NAME = /^[0-9a-f]{64}$/;
export const TYPE_FOLDERS: ReadonlySet<string> = new Set(['data', 'keys', 'locks', 'snapshots', 'index']);

export class Layout {
  /** `''` or the prefix with one trailing slash. */
  readonly base: string;

  constructor(prefix: string) {
    const parts = prefix.split('/').filter((p) => p !== '');
    this.base = parts.length ? `${parts.join('/')}/` : '';
  }

  /** The key prefix of a repository's files: `''` or ending in `/`. */
  repoPrefix(repo: string): string {
    return repo === '' ? this.base : `${this.base}${repo}/`;
  }

  /** The marker object of a created repository, or undefined for a root without prefix (the bucket is the repository). */
  marker(repo: string): string | undefined {
    const prefix = this.repoPrefix(repo);
    return prefix === '' ? undefined : prefix;
  }

  key(ref: FileRef): string {
    const repo = this.repoPrefix(ref.repo);
    if (ref.type === 'config') return `${repo}config`;
    if (ref.type === 'data') return `${repo}data/${ref.name.slice(0, 2)}/${ref.name}`;
    return `${repo}${ref.type}/${ref.name}`;
  }

  /** Where `list(repo, type)` lists. */
  typePrefix(repo: string, type: BlobType): string {
    return `${this.repoPrefix(repo)}${type}/`;
  }

  /** The file name a listed key stands for, or undefined for anything that is not a file of that type. */
  nameOf(key: string, typePrefix: string, type: BlobType): string | undefined {
    const rest = key.slice(typePrefix.length);
    if (type === 'data') {
      const slash = rest.indexOf('/');
      const name = rest.slice(slash + 1);
      return slash === 2 && NAME.test(name) && name.startsWith(rest.slice(0, 2)) ? name : undefined;
    }
    return NAME.test(rest) ? rest : undefined;
  }

  /** The repository path of a key prefix found under `base` (`''` for the base itself). */
  repoOf(prefix: string): string {
    return prefix.slice(this.base.length).replace(/\/$/, '');
  }
}
