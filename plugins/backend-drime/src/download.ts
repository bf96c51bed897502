/**
 * Downloads: `GET /file-entries/download/<hash>` with a `Range` header, following
 * redirects (the API key is only sent to the API's own origin), retried until the
 * body starts. Drime may ignore `Range`: a full 200 reply is skipped and trimmed to
 * the range while streaming. The stream errors, never ends early, when the
 * connection drops or the reply is shorter than the range.
 */
import { Readable } from 'node:stream';
import type { ByteRange } from '@pyrestserver/core';
import { StorageError, StorageErrorCode } from '@pyrestserver/core';
import type { DrimeHttp, HttpRequest, HttpResponse } from './http.js';
import { discard } from './http.js';

const MAX_REDIRECTS = 5;

export async function download(http: DrimeHttp, hash: string, size: number, range?: ByteRange): Promise<Readable> {
  const first: HttpRequest = {
    method: 'GET',
    path: `/file-entries/download/${encodeURIComponent(hash)}`,
    headers: {
      accept: '*/*',
      ...(range ? { range: `bytes=${range.start}-${range.end}` } : {}),
    },
  };
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  const response = await http.retrying(first, () => follow(http, first));
  let skip = start;
  if (response.statusCode === 206) {
    const from = /bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
    skip = from ? start - Number(from[1]) : 0;
    if (skip < 0) {
      await discard(response.body);
      throw new StorageError(StorageErrorCode.INTERNAL, `Drime answered a range starting after byte ${start}`);
    }
  }
  return Readable.from(slice(response.body, skip, length), { objectMode: false, highWaterMark: 64 * 1024 });
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
    if (response.statusCode < 300 || response.statusCode >= 400 || typeof location !== 'string' || hop >= MAX_REDIRECTS) {
      throw new StorageError(StorageErrorCode.INTERNAL, `${http.describe(request)} answered ${response.statusCode}`);
    }
    request = { ...first, path: new URL(location, http.url(request)).toString() };
  }
}

/** `length` bytes after skipping `skip`, as a stream; fewer is an error; the rest is not read. */
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
        left = 0;
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, `Drime download broke off with ${left} bytes to go`, { cause: err });
  } finally {
    // Stop the transfer when the range is served or the reader went away.
    if (!body.destroyed) body.destroy();
  }
  if (left > 0) throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, `Drime download ended ${left} bytes short`);
}
