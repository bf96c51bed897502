import type { FastifyInstance } from 'fastify';

/** A refused request body up to this size is read and dropped, so the connection can be reused. */
export const DRAIN_LIMIT_BYTES = 64 * 1024;

/**
 * A request refused before its body was read (401, 403, 507 from the headers alone) whose
 * announced body is larger than DRAIN_LIMIT_BYTES: the reply says `Connection: close` and the
 * connection is closed once it is sent, instead of Node reading the rest of the body (up to
 * the announced size, gigabytes) only to throw it away. The client opens a new connection
 * (restic does so by itself).
 */
export function registerRefusedBodyClose(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    if (reply.statusCode < 400 || request.raw.complete) return;
    const announced = Number(request.headers['content-length']);
    const chunked = request.headers['transfer-encoding'] !== undefined;
    if (chunked || (Number.isFinite(announced) && announced > DRAIN_LIMIT_BYTES)) reply.header('connection', 'close');
  });
}
