/**
 * Folder ids by path (paths relative to the workspace root, `/`-separated; `''` is
 * the root). Lookups read the parent's cached listing; creation is coalesced per
 * path (one in-flight promise), so concurrent writes into a new folder create it
 * once. When duplicates exist anyway, the folder with the lowest id is used; after creating
 * a folder the parent is listed again, so that two servers creating one folder both settle
 * on the same one (the lowest id) instead of splitting files between the two.
 */
import type { FolderId } from './entry.js';
import { pick } from './entry.js';
import type { DrimeApi } from './api.js';
import type { Listings } from './listings.js';

const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

export class Folders {
  readonly #api: DrimeApi;
  readonly #listings: Listings;
  /** Resolved folder ids; folders are never removed by us, so ids stay valid. */
  readonly #ids = new Map<string, number>();
  readonly #ensuring = new Map<string, Promise<FolderId>>();

  constructor(api: DrimeApi, listings: Listings) {
    this.#api = api;
    this.#listings = listings;
  }

  /** The folder's id, or undefined when it does not exist. */
  async resolve(path: string): Promise<FolderId | undefined> {
    if (path === '') return null;
    const known = this.#ids.get(path);
    if (known !== undefined) return known;
    const parentId = await this.resolve(parentOf(path));
    if (parentId === undefined) return undefined;
    const folder = pick((await this.#listings.get(parentId)).get(baseName(path)), 'folder');
    if (folder) this.#ids.set(path, folder.id);
    return folder?.id;
  }

  /** The folder's id, creating it and its parents as needed. */
  ensure(path: string): Promise<FolderId> {
    let pending = this.#ensuring.get(path);
    if (!pending) {
      pending = this.#ensure(path).finally(() => this.#ensuring.delete(path));
      this.#ensuring.set(path, pending);
    }
    return pending;
  }

  async #ensure(path: string): Promise<FolderId> {
    const existing = await this.resolve(path);
    if (existing !== undefined) return existing;
    const parentId = await this.ensure(parentOf(path));
    const name = baseName(path);
    const request = { method: 'POST', path: '/folders' } as const;
    const folder = await this.#api.http.retrying(request, async (n) => {
      if (n > 0) {
        // The failed attempt may have created it after all: look before creating again.
        const found = pick((await this.#listings.refresh(parentId)).get(name), 'folder');
        if (found) return found;
      }
      return this.#api.createFolderOnce(name, parentId);
    });
    this.#listings.add(parentId, folder);
    this.#listings.setEmpty(folder.id);
    // Another server may have created it too (at the same moment, or while our listing of the
    // parent was cached): a listing started after ours was created shows both, and every server
    // settles on the lowest id. Our cached listing cannot tell.
    const children = await this.#listings.fresh(parentId).catch((err: unknown) => {
      // Unchecked: the next lookup must list the parent again rather than trust our folder.
      this.#listings.invalidate(parentId);
      throw err;
    });
    const winner = pick(children.get(name), 'folder') ?? folder;
    this.#ids.set(path, winner.id);
    return winner.id;
  }
}
