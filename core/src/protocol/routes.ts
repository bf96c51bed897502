import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { StorageProvider } from '../storage/types.js';
import type { Policy } from '../policies/types.js';
import { ALLOWED_METHODS, parseRoute, type Route } from './paths.js';
import { PolicyChain } from './policy-chain.js';
import { createHandlers } from './handlers.js';
import { replyWithError, sendStatus } from './replies.js';

export interface ProtocolOptions {
  provider: StorageProvider;
  policies: Policy[];
  verifyUpload: boolean;
}

/**
 * All restic REST routes as one Fastify plugin (encapsulated: its body handling and
 * error handler apply to these routes only).
 *
 * One wildcard route takes every method and path; `parseRoute` decides what the path
 * is, from its end, and refuses anything unsafe before a provider is involved. Known
 * paths with another method get 405 and `Allow`; unknown paths 404.
 */
export const registerProtocol: FastifyPluginAsync<ProtocolOptions> = async (app, options) => {
  const handlers = createHandlers({
    provider: options.provider,
    policies: new PolicyChain(options.policies),
    verifyUpload: options.verifyUpload,
  });

  // Bodies are never parsed or buffered: the upload handler streams them itself.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // rest-server ignores Content-Type; Fastify would answer 415 to one that does not parse.
  app.addHook('onRequest', (request, _reply, done) => {
    delete request.headers['content-type'];
    done();
  });
  app.setErrorHandler(replyWithError);

  // Methods Fastify does not route (PROPFIND, LOCK, ...) reach no route: answer them as a
  // wrong method (405 with Allow, or 404 for an unknown path), not with Fastify's JSON 404.
  app.setNotFoundHandler(async (request: FastifyRequest, reply: FastifyReply) => {
    const route = parseRoute(request.url);
    if (route.kind === 'error') return sendStatus(reply, route.status);
    return methodNotAllowed(route, reply);
  });

  app.all('/*', { exposeHeadRoute: false }, async (request: FastifyRequest, reply: FastifyReply) => {
    const route = parseRoute(request.url);
    if (route.kind === 'error') return sendStatus(reply, route.status);
    const method = request.method;
    switch (route.kind) {
      case 'repo':
        if (method === 'POST') return handlers.createRepository(route, request, reply);
        break;
      case 'list':
        if (method === 'GET') return handlers.list(route, request, reply);
        break;
      case 'config':
      case 'file':
        if (method === 'GET') return handlers.read(route, request, reply);
        if (method === 'HEAD') return handlers.stat(route, request, reply);
        if (method === 'POST') return handlers.write(route, request, reply);
        if (method === 'DELETE') return handlers.remove(route, request, reply);
        break;
    }
    return methodNotAllowed(route, reply);
  });
};

const methodNotAllowed = (route: Route, reply: FastifyReply): FastifyReply =>
  sendStatus(reply.header('allow', ALLOWED_METHODS[route.kind]), 405);
