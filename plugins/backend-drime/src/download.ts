/**
 * Downloads: `GET /file-entries/download/<hash>` with a `Range` header, following
 * redirects (the API key is only sent to the API's own origin), retried until the
 * body starts. Drime may ignore `Range`: a full 200 reply is skipped and trimmed to
 * the range while streaming. A connection that drops mid-body is resumed from the
 * first missing byte (within the retry budget); past it the stream errors, it never
 * ends early.
 */
import { Readable } from 'node:stream';
import type { ByteRange } from '@pyrestserver/core';
import { StorageError, StorageErrorCode } from '@pyrestserver/core';
import type { DrimeHttp, HttpRequest, HttpResponse } from './http.js';
import { discard } from './http.js';
import { retryDelay, TransientError } from './retry.js';

const MAX_REDIRECTS = 5;

export async function download(http: DrimeHttp, hash: string, size: number, range?: ByteRange): Promise<Readable> {
  const start = range?.start ?? 0;
  const end = range ? range.end : size - 1;
  const open = (from: number) => openAt(http, hash, from, end, from > 0 || range !== undefined);
  // The first reply is awaited here, so that NOT_FOUND and the like reject `read` itself.
  const first = await open(start);
  return Readable.from(resumable(http, first, start, end, open), { objectMode: false, highWaterMark: 64 * 1024 });
}

interface Opened {
  body: Readable;
  /** Bytes of the reply to skip before byte `from` (when Range was ignored or widened). */
  skip: number;
}

async function openAt(http: DrimeHttp, hash: string, from: number, end: number, ranged: boolean): Promise<Opened> {
  const request: HttpRequest = {
    method: 'GET',
    path: `/file-entries/download/${encodeURIComponent(hash)}`,
    headers: { accept: '*/*', ...(ranged && end >= from ? { range: `bytes=${from}-${end}` } : {}) },
  };
  const response = await http.retrying(request, () => follow(http, request));
  if (response.statusCode !== 206) return { body: response.body, skip: from };
  const served = /bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
  const skip = served ? from - Number(served[1]) : 0;
  if (skip < 0) {
    await discard(response.body);
    throw new StorageError(StorageErrorCode.INTERNAL, `Drime answered a range starting after byte ${from}`);
  }
  return { body: response.body, skip };
}

/** One attempt: the request and its redirects, up to a 200 or 206. */
async function follow(http: DrimeHttp, first: HttpRequest): Promise<HttpResponse> {
  let request = first;
  for (let hop = 0; ; hop++) {
    const response = await http.send(request);
    await http.check(request, response);
    if (response.statusCode === 200 || response.statusCode === 206) return response;
    const location = response.headers.location;
    await discard(response.body);
    if (response.statusCode < 300 || typeof location !== 'string' || hop >= MAX_REDIRECTS) {
      throw new StorageError(StorageErrorCode.INTERNAL, `${http.describe(request)} answered ${response.statusCode}`);
    }
    request = { ...first, path: new URL(location, http.url(request)).toString() };
  }
}

/** Bytes `from`..`end` of the file, reopening at the first missing byte when a reply breaks off. */
async function* resumable(
  http: DrimeHttp,
  first: Opened,
  from: number,
  end: number,
  open: (from: number) => Promise<Opened>,
): AsyncGenerator<Buffer> {
  let next = from;
  let opened = first;
  for (let resumes = 0; ; resumes++) {
    try {
      for await (const chunk of slice(opened.body, opened.skip, end - next + 1)) {
        next += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      const policy = http.retryPolicy;
      if (!(err instanceof TransientError) || resumes >= policy.maxRetries) {
        throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, `Drime download broke off at byte ${next}: ${(err as Error).message}`, { cause: err });
      }
      await policy.sleep(retryDelay(policy, resumes, err));
      opened = await open(next);
    }
  }
}

/** `length` bytes after skipping `skip`; the rest of the reply is not read. A short reply is transient. */
async function* slice(body: Readable, skip: number, length: number): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let left = length;
  try {
    for await (const raw of body) {
      let chunk = raw as Buffer;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (chunk.length >= left) {
        if (left > 0) yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw new TransientError(`reply broke off with ${left} bytes to go`, { cause: err });
  } finally {
    // Stop the transfer once the range is served or the reader went away.
    if (!body.destroyed) body.destroy();
  }
  if (left > 0) throw new TransientError(`reply ended ${left} bytes short`);
}
