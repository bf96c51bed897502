import { defineBackend } from '@pyrestserver/core';
import { checkDataDir } from './data-dir.js';
import { modesFor } from './layout.js';
import { LocalProvider } from './provider.js';

export { LocalProvider, type LocalProviderOptions } from './provider.js';
export { STALE_TEMP_AGE_MS, type SweepOptions } from './temp-files.js';

export interface LocalOptions {
  /** The data directory, as rest-server's `--path`. */
  path: string;
}

/**
 * The local-disk backend: rest-server 0.14's layout and permissions, atomic uploads.
 * On start it checks that the data folder is a folder it can write (a clear error and exit 1
 * otherwise), and removes, in the background, temporary upload files a crash left behind.
 */
export default defineBackend<LocalOptions>({
  type: 'local',
  description: 'Local disk, rest-server compatible layout',
  optionsSchema: {
    type: 'object',
    properties: {
      path: { type: 'string', description: 'data directory', default: '/tmp/restic', minLength: 1 },
    },
    required: ['path'],
    additionalProperties: false,
  },
  async create(options, context) {
    await checkDataDir(options.path, modesFor(context.groupAccessible).dir);
    const provider = new LocalProvider({ root: options.path, groupAccessible: context.groupAccessible });
    provider.sweepStaleTempFiles().then(
      (removed) => {
        if (removed > 0) context.logger.info({ removed }, 'removed stale temporary upload files');
      },
      (err: unknown) => context.logger.warn({ err }, 'could not remove stale temporary upload files'),
    );
    return provider;
  },
});
