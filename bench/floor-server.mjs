#!/usr/bin/env node
// The least a restic REST server on Node.js can do per request, to measure the floor under ours:
// the bench's requests answered from memory (sizes only, no files, no fsync), with the upload's
// SHA-256 checked as ours and rest-server check it. Two forms: `http` (node:http alone) and
// `fastify` (one Fastify wildcard route, as ours has). Not a server to use: nothing is stored.
//
//   node --max-semi-space-size=1 bench/floor-server.mjs --kind http|fastify --listen 127.0.0.1:PORT
// (bench/run-all.mjs runs it as the servers floor-http and floor-fastify.)
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { kind: { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8000' } } });
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(':')), Number(values.listen.slice(values.listen.lastIndexOf(':') + 1))];
const V2 = 'application/vnd.x.restic.rest.v2';
/** Replies' bodies are zeros of the stored size (the bench counts the bytes, it does not hash
 * them): one 64 KiB buffer, sent as often as needed, so that no large buffer adds to the RSS. */
const ZEROS = Buffer.alloc(64 * 1024);
const zeros = (size) =>
  size <= ZEROS.length
    ? ZEROS.subarray(0, size)
    : Readable.from((function* () {
        for (let left = size; left > 0; left -= ZEROS.length) yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
      })());
/** path of the file -> its size; a repository is the set of its paths' prefixes. */
const files = new Map();

/** The answer to one request: [status, headers, body?]; `body` is the request's body stream. */
async function answer(method, url, body) {
  const path = url.split('?')[0];
  if (method === 'POST' && url.endsWith('?create=true')) return [200, {}];
  if (path.endsWith('/')) {
    if (method !== 'GET') return [405, {}];
    const list = [];
    for (const [file, size] of files) if (file.startsWith(path)) list.push({ name: file.slice(path.length), size });
    return [200, { 'content-type': V2 }, JSON.stringify(list)];
  }
  const name = path.slice(path.lastIndexOf('/') + 1);
  switch (method) {
    case 'HEAD':
    case 'GET': {
      const size = files.get(path);
      if (size === undefined) return [404, {}];
      return [200, { 'content-length': size }, method === 'GET' ? zeros(size) : undefined];
    }
    case 'POST': {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of body) {
        hash.update(chunk);
        size += chunk.length;
      }
      if (hash.digest('hex') !== name) return [400, {}];
      files.set(path, size);
      return [200, {}];
    }
    case 'DELETE':
      files.delete(path);
      return [200, {}];
    default:
      return [405, {}];
  }
}

if (values.kind === 'http') {
  const server = createServer((req, res) => {
    answer(req.method, req.url, req).then(([status, headers, body]) => {
      res.writeHead(status, headers);
      if (body instanceof Readable) body.pipe(res);
      else res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, host);
} else if (values.kind === 'fastify') {
  const Fastify = createRequire(new URL('../core/package.json', import.meta.url))('fastify');
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.all('/*', { exposeHeadRoute: false }, async (request, reply) => {
    const [status, headers, body] = await answer(request.method, request.url, request.body ?? request.raw);
    return reply.code(status).headers(headers).send(body);
  });
  await app.listen({ port, host });
} else {
  console.error('usage: floor-server.mjs --kind http|fastify [--listen HOST:PORT]');
  process.exit(2);
}
