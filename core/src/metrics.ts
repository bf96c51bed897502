import type { FastifyInstance } from 'fastify';

/** `/metrics` in rest-server's format. (To be written: see issue 4.) */
export async function registerMetrics(_app: FastifyInstance, _options: { prometheus?: boolean }): Promise<void> {}
