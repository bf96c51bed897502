import type { FastifyInstance } from 'fastify';

/** Apache combined access log (`--log`). (To be written: see issue 4.) */
export async function registerAccessLog(_app: FastifyInstance, _options: { log?: string }): Promise<void> {}
