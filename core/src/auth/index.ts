import type { FastifyInstance } from 'fastify';

export type AuthOptions =
  | { kind: 'none' }
  | { kind: 'htpasswd'; file: string }
  | { kind: 'proxy'; header: string };

/** Authentication as an onRequest hook that sets `request.user`. (To be written: see issue 4.) */
export async function registerAuth(_app: FastifyInstance, _options: { auth: AuthOptions }): Promise<void> {}
