import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasCode, StorageErrorCode } from '../errors.js';
import type { Access } from '../policies/types.js';
import type { FileRef, StorageProvider } from '../storage/types.js';
import type { PolicyChain } from './policy-chain.js';
import type { Route } from './paths.js';
import { listingBody, MIME_V1, MIME_V2, wantsV2 } from './listing.js';
import { contentRange, parseRange, wantedRange } from './ranges.js';
import { isRecycling, recycleSentChunks } from './recycle.js';
import { sendStatus } from './replies.js';
import { parseContentLength, receiveUpload } from './upload.js';

type RepoRoute = Extract<Route, { kind: 'repo' }>;
type ListRoute = Extract<Route, { kind: 'list' }>;
type FileRoute = Extract<Route, { kind: 'config' | 'file' }>;

export interface HandlerOptions {
  provider: StorageProvider;
  policies: PolicyChain;
  verifyUpload: boolean;
}

/**
 * One function per storage operation. Each builds the operation's `Access`, runs every
 * policy's `authorize` before it touches the provider (for uploads, before reading the
 * body), calls the provider, then tells the policies what happened.
 */
export function createHandlers({ provider, policies, verifyUpload }: HandlerOptions) {
  /** `POST {repo}/?create=true` */
  async function createRepository(route: RepoRoute, request: FastifyRequest, reply: FastifyReply) {
    const create = (request.query as Record<string, unknown>).create;
    if ((Array.isArray(create) ? create[0] : create) !== 'true') return sendStatus(reply, 400);
    // After the query check: the quota charges a creation it authorizes.
    await policies.authorize({ op: 'create', user: request.user, repo: route.repo });
    await provider.createRepository(route.repo);
    return reply.send();
  }

  /** `GET {repo}/{type}/` */
  async function list(route: ListRoute, request: FastifyRequest, reply: FastifyReply) {
    await policies.authorize({ op: 'list', user: request.user, repo: route.repo, type: route.type });
    const v2 = wantsV2(request.headers.accept);
    const body = await listingBody(provider.list(route.repo, route.type), v2);
    return reply.header('content-type', v2 ? MIME_V2 : MIME_V1).send(body);
  }

  /** `HEAD {repo}/config`, `HEAD {repo}/{type}/{name}` */
  async function stat(route: FileRoute, request: FastifyRequest, reply: FastifyReply) {
    const ref = fileRef(route);
    await policies.authorize(access('stat', ref, request));
    const { size } = await provider.stat(ref);
    return reply.header('content-length', size).send();
  }

  /** `GET {repo}/config`, `GET {repo}/{type}/{name}`, with or without `Range`. */
  async function read(route: FileRoute, request: FastifyRequest, reply: FastifyReply) {
    const ref = fileRef(route);
    const acc = access('read', ref, request);
    await policies.authorize(acc);
    const header = request.headers.range;
    const wanted = provider.open ? wantedRange(header) : undefined;
    let size: number;
    let body: Readable | Uint8Array | undefined;
    if (wanted !== undefined) {
      // One step: the provider finds the size as it opens (one request on an object store).
      ({ size, body } = await provider.open!(ref, wanted ?? undefined));
    } else {
      ({ size } = await provider.stat(ref));
    }
    const answer = parseRange(header, size);
    if (answer.status === 416) {
      if (body instanceof Readable) body.destroy();
      if (answer.noOverlap) reply.header('content-range', `bytes */${size}`);
      return sendStatus(reply, 416);
    }
    let length = size;
    if (answer.status === 206) {
      const { range } = answer;
      length = range.end - range.start + 1;
      body ??= await provider.read(ref, range);
      reply.code(206).header('content-range', contentRange(range, size));
    } else {
      // The size is known: asking for exactly it spares the provider a read past the end
      // (and lets it read a small file in one call).
      body ??= await provider.read(ref, size > 0 ? { start: 0, end: size - 1 } : undefined);
    }
    if (policies.watchesReads) reply.raw.once('finish', () => policies.read(acc, length));
    if (body instanceof Readable && isRecycling(body)) recycleSentChunks(reply.raw, body);
    return reply
      .header('accept-ranges', 'bytes')
      .header('content-type', 'application/octet-stream')
      .header('content-length', length)
      .send(body);
  }

  /** `POST {repo}/config`, `POST {repo}/{type}/{name}`: a streamed, checked upload. */
  async function write(route: FileRoute, request: FastifyRequest, reply: FastifyReply) {
    const size = parseContentLength(request.headers['content-length']);
    if (size === undefined) return sendStatus(reply, 411);
    const ref = fileRef(route);
    const acc: Access = { op: 'write', user: request.user, repo: ref.repo, type: ref.type, name: ref.name, size };
    await policies.authorize(acc);
    // The content-type parser hands the (possibly hook-wrapped) body stream over as `body`.
    const source = (request.body as Readable | undefined) ?? request.raw;
    const expected = verifyUpload && ref.type !== 'config' ? ref.name : undefined;
    try {
      await receiveUpload(source, size, expected, (checked) => provider.write(ref, checked, size));
    } catch (err) {
      policies.writeFailed(acc);
      throw err;
    }
    policies.written(acc, size);
    return reply.send();
  }

  /**
   * Deletes in flight, by file. A DELETE of a file already being deleted joins that delete
   * instead of running its own: both would stat the file before either removed it, and its
   * size would be taken off the quota (and the metrics) twice.
   */
  const deleting = new Map<string, Promise<void>>();

  /** `DELETE {repo}/config`, `DELETE {repo}/{type}/{name}`: 200 also when already gone. */
  async function remove(route: FileRoute, request: FastifyRequest, reply: FastifyReply) {
    const ref = fileRef(route);
    const acc = access('delete', ref, request);
    await policies.authorize(acc);
    const key = `${ref.repo}\0${ref.type}\0${ref.name}`;
    let pending = deleting.get(key);
    if (!pending) {
      pending = deleteAndReport(ref, acc).finally(() => deleting.delete(key));
      deleting.set(key, pending);
    }
    await pending;
    return reply.send();
  }

  async function deleteAndReport(ref: FileRef, acc: Access): Promise<void> {
    let size: number | undefined = 0;
    if (policies.needsDeletedSize) size = await sizeIfExists(ref);
    await provider.delete(ref);
    if (size !== undefined) policies.deleted(acc, size);
  }

  async function sizeIfExists(ref: FileRef): Promise<number | undefined> {
    try {
      return (await provider.stat(ref)).size;
    } catch (err) {
      if (hasCode(err, StorageErrorCode.NOT_FOUND)) return undefined;
      throw err;
    }
  }

  return { createRepository, list, stat, read, write, remove };
}

export type Handlers = ReturnType<typeof createHandlers>;

const fileRef = (route: FileRoute): FileRef =>
  route.kind === 'config'
    ? { repo: route.repo, type: 'config', name: 'config' }
    : { repo: route.repo, type: route.type, name: route.name };

const access = (op: Access['op'], ref: FileRef, request: FastifyRequest): Access => ({
  op,
  user: request.user,
  repo: ref.repo,
  type: ref.type,
  name: ref.name,
});
