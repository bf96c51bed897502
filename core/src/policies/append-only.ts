import { StorageError, StorageErrorCode } from '../errors.js';
import type { PolicyOptions } from './index.js';
import type { Policy } from './types.js';
import { appendOnlyFor } from './settings.js';

/**
 * Append-only (rest-server's --append-only, plus per-user and per-repository
 * settings): nothing may be deleted except lock files, so a client whose credentials
 * leak can add backups but not destroy them. Overwrites are refused anyway (writes
 * are exclusive), so deletes are all there is to stop.
 */
export function appendOnlyPolicy(options: PolicyOptions): Policy {
  return {
    name: 'append-only',
    authorize(access) {
      if (access.op !== 'delete' || access.type === 'locks') return;
      if (!appendOnlyFor(options, access.user, access.repo)) return;
      const what = access.type === 'config' ? 'its config' : `${access.type ?? 'its'} files`;
      throw new StorageError(
        StorageErrorCode.FORBIDDEN,
        `repository ${JSON.stringify(access.repo)} is append-only: ${what} cannot be deleted`,
      );
    },
  };
}
