import { defineBackend } from '@pyrestserver/core';
import type { StorageProvider } from '@pyrestserver/core';

export interface LocalOptions {
  path: string;
}

/** The local-disk backend (to be written: issue 2). */
export default defineBackend<LocalOptions>({
  type: 'local',
  description: 'Local disk, rest-server compatible layout',
  optionsSchema: {
    type: 'object',
    properties: {
      path: { type: 'string', description: 'data directory', default: '/tmp/restic' },
    },
    required: ['path'],
    additionalProperties: false,
  },
  create(): StorageProvider {
    throw new Error('not yet');
  },
});
