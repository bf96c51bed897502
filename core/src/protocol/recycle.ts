/**
 * Handing a body stream's chunks back to it once they are sent (`RecyclingBody`).
 *
 * Fastify pipes the body into the response, which calls `res.write(chunk)`. Wrapped here,
 * each chunk's write gets a callback: Node calls it once the bytes are written to the
 * socket (HTTP/1.1) or taken by the HTTP/2 session, or with an error when they never will
 * be; either way nothing reads the chunk any more, and it goes back to the stream.
 */
import type { Readable } from 'node:stream';
import type { RecyclingBody } from '../storage/types.js';

type WriteCallback = (err?: Error | null) => void;
interface Writes {
  write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean;
}

export const isRecycling = (body: Readable): body is RecyclingBody =>
  typeof (body as Partial<RecyclingBody>).recycle === 'function';

/** Give `body` each chunk back once `res` has sent it. */
export function recycleSentChunks(res: Writes, body: RecyclingBody): void {
  const write = res.write;
  res.write = function (this: Writes, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (!(chunk instanceof Uint8Array)) return write.call(this, chunk, encoding, callback);
    const then = callback as WriteCallback | undefined;
    return write.call(this, chunk, encoding, (err?: Error | null) => {
      body.recycle(chunk);
      then?.(err);
    });
  };
}
