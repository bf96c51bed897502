import { Readable } from 'node:stream';
import type { FileInfo } from '../storage/types.js';

export const MIME_V1 = 'application/vnd.x.restic.rest.v1';
export const MIME_V2 = 'application/vnd.x.restic.rest.v2';

/** True when the client asked for the v2 listing (names and sizes). */
export const wantsV2 = (accept: string | undefined): boolean => accept !== undefined && accept.includes(MIME_V2);

/** Lists up to this size are sent as one string; longer ones are streamed in chunks of it. */
const CHUNK = 64 * 1024;

/**
 * The JSON body of a listing: v1 `["name",...]`, v2 `[{"name":...,"size":N},...]`.
 *
 * The first entry is read before this resolves, so a missing repository (the provider's
 * NOT_FOUND) still becomes a status code. A short list comes back as a string; a long one
 * as a stream that pulls entries from the provider as the client reads, so memory does
 * not grow with the number of files.
 */
export async function listingBody(entries: AsyncIterable<FileInfo>, v2: boolean): Promise<string | Readable> {
  const iterator = entries[Symbol.asyncIterator]();
  const format = v2 ? formatV2 : formatV1;
  let head = '[';
  let done = false;
  while (head.length < CHUNK) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    head += (head.length > 1 ? ',' : '') + format(next.value);
  }
  if (done) return head + ']';
  return Readable.from(rest(head, iterator, format), { objectMode: false });
}

async function* rest(
  head: string,
  iterator: AsyncIterator<FileInfo>,
  format: (info: FileInfo) => string,
): AsyncGenerator<string> {
  try {
    yield head;
    let chunk = '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      chunk += ',' + format(next.value);
      if (chunk.length >= CHUNK) {
        yield chunk;
        chunk = '';
      }
    }
    yield chunk + ']';
  } finally {
    // The client went away (or the provider failed): let the provider release its handles.
    await iterator.return?.();
  }
}

const formatV1 = (info: FileInfo): string => JSON.stringify(info.name);
const formatV2 = (info: FileInfo): string => `{"name":${JSON.stringify(info.name)},"size":${info.size}}`;
