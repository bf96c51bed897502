import type { FastifyInstance } from 'fastify';
import type { ServerOptions } from './server.js';

export * from './errors.js';
export * from './storage/types.js';
export { BufferPool, largeBuffers, LARGE_BUFFER_BYTES } from './storage/buffer-pool.js';
export { paceCollections } from './storage/gc-pacer.js';
export * from './plugins/contract.js';
export * from './plugins/index.js';
export * from './config/file.js';
export * from './config/backends-store.js';
export { obscure, reveal } from './config/obscure.js';
export { parseSize, formatSize, SIZE_FORMS } from './config/size.js';
export type { Access, Operation, Policy } from './policies/types.js';
export type { ServerOptions, TlsOptions } from './server.js';

/**
 * A Fastify instance serving the restic REST protocol with every policy registered (see
 * server.ts). Loaded on first use, so that commands which serve nothing (`config`,
 * `backends`, `--help`) do not pay for loading Fastify, prom-client and the password hashes.
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  return (await import('./server.js')).createServer(options);
}
export { listen } from './listen.js';
export { walkRepository, totalBytes, totalFiles, FILE_TYPES, type RepoStats, type TypeStats } from './repo-stats.js';
export type { Logger } from 'pino';
export { reloadSettings, type SettingsReload } from './policies/reload.js';
export { h2ListenerTransport, parseRepositoryPath, stdioTransport, confineUrl, type StdioTransport, type TransportSetup } from './transports/index.js';

/**
 * The server's own settings (htpasswd file, TLS files, listen address), checked before any
 * backend is contacted (see preflight.ts). Loaded on first use, like createServer.
 */
export async function checkLocalSettings(settings: Parameters<typeof import('./preflight.js').checkLocalSettings>[0]): Promise<void> {
  return (await import('./preflight.js')).checkLocalSettings(settings);
}
