import type { FastifyPluginAsync } from 'fastify';
import type { StorageProvider } from '../storage/types.js';
import type { Policy } from '../policies/types.js';

export interface ProtocolOptions {
  provider: StorageProvider;
  policies: Policy[];
  verifyUpload: boolean;
}

/** All restic REST routes as one Fastify plugin. (To be written: see issue 2.) */
export const registerProtocol: FastifyPluginAsync<ProtocolOptions> = async () => {};
