export * from './errors.js';
export * from './storage/types.js';
export * from './plugins/contract.js';
export * from './plugins/index.js';
export * from './config/file.js';
export type { Access, Operation, Policy } from './policies/types.js';
export { createServer, type ServerOptions, type TlsOptions } from './server.js';
export { listen } from './listen.js';
export type { Logger } from 'pino';
