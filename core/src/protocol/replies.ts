import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpStatusOf, storageCodeOf, StorageErrorCode } from '../errors.js';

/** Reply with a status and its reason phrase as a short plain-text body, as rest-server does. */
export function sendStatus(reply: FastifyReply, status: number): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/plain; charset=utf-8')
    .send(`${STATUS_CODES[status] ?? 'Error'}\n`);
}

/**
 * The HTTP status of any error reaching the protocol routes: a storage or policy error
 * by its code; an HTTP-level error (Fastify's own, or one with a `statusCode` thrown by
 * a hook) by that status; anything else 500.
 */
export function statusOf(err: unknown): number {
  if (storageCodeOf(err) !== StorageErrorCode.INTERNAL) return httpStatusOf(err);
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

/**
 * The protocol's error handler: map the error to a status, log server faults (5xx) with
 * the error's name, code, message and stack only (never request headers or arbitrary
 * error properties, which could carry credentials), and send the short status reply.
 */
export function replyWithError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = statusOf(err);
  const e = err as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown } | null;
  if (status >= 500 && status !== 503 && status !== 507) {
    request.log.error(
      { err: { type: e?.name, code: e?.code, message: e?.message, stack: e?.stack }, method: request.method, status },
      'request failed',
    );
  } else {
    // Not a fault of the server: a full quota or disk, a backend that is down (restic
    // retries), a client error. No stack trace, and below error level.
    const fields = { err: { type: e?.name, code: e?.code, message: e?.message }, method: request.method, status };
    if (status >= 500) request.log.warn(fields, 'request refused');
    else request.log.debug(fields, 'request refused');
  }
  return sendStatus(reply, status);
}
