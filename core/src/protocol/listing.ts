import { Readable } from 'node:stream';
import type { FileInfo } from '../storage/types.js';

export const MIME_V1 = 'application/vnd.x.restic.rest.v1';
export const MIME_V2 = 'application/vnd.x.restic.rest.v2';

/** True when the client asked for the v2 listing (names and sizes). */
export const wantsV2 = (accept: string | undefined): boolean => accept !== undefined && accept.includes(MIME_V2);

/** A listing is written in chunks of this many bytes; one that fits in a chunk is sent whole. */
const CHUNK = 64 * 1024;

/** Names JSON takes as they are (restic's are hex); any other is escaped by JSON.stringify. */
const PLAIN = /^[\w.-]*$/;

/**
 * The JSON body of a listing: v1 `["name",...]`, v2 `[{"name":...,"size":N},...]`.
 *
 * The first entry is read before this resolves, so a missing repository (the provider's
 * NOT_FOUND) still becomes a status code. A short list comes back as one Buffer; a long one
 * as a stream that pulls entries from the provider as the client reads, so memory does
 * not grow with the number of files.
 *
 * Entries are written into the chunk's bytes as they arrive, not gathered in a string: a
 * string built over a listing's many turns of the event loop outlived the young generation
 * and piled up in the old one (16 listings of 4,000 files at once raised peak RSS by 25 MiB).
 */
export async function listingBody(entries: AsyncIterable<FileInfo>, v2: boolean): Promise<Buffer | Readable> {
  const iterator = entries[Symbol.asyncIterator]();
  const chunks = new ChunkWriter(v2);
  for (;;) {
    const next = await iterator.next();
    if (next.done) return chunks.end();
    const full = chunks.add(next.value);
    if (full) return Readable.from(rest(full, chunks, iterator), { objectMode: false });
  }
}

async function* rest(first: Buffer, chunks: ChunkWriter, iterator: AsyncIterator<FileInfo>): AsyncGenerator<Buffer> {
  try {
    yield first;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const full = chunks.add(next.value);
      if (full) yield full;
    }
    yield chunks.end();
  } finally {
    // The client went away (or the provider failed): let the provider release its handles.
    await iterator.return?.();
  }
}

/** Listing entries written one after another into chunks of CHUNK bytes. */
class ChunkWriter {
  readonly #v2: boolean;
  #buffer = Buffer.allocUnsafe(CHUNK);
  #length = 1;
  #entries = 0;

  constructor(v2: boolean) {
    this.#v2 = v2;
    this.#buffer[0] = 0x5b; // [
  }

  /** Add an entry; when the current chunk is full, it is returned and a new one begun. */
  add(info: FileInfo): Buffer | undefined {
    const plain = PLAIN.test(info.name);
    const name = plain ? `"${info.name}"` : JSON.stringify(info.name);
    const text = `${this.#entries++ === 0 ? '' : ','}${this.#v2 ? `{"name":${name},"size":${info.size}}` : name}`;
    const bytes = plain ? text.length : Buffer.byteLength(text);
    let full: Buffer | undefined;
    if (this.#length + bytes > this.#buffer.length) {
      full = this.#buffer.subarray(0, this.#length);
      this.#buffer = Buffer.allocUnsafe(Math.max(CHUNK, bytes + 1));
      this.#length = 0;
    }
    this.#length += this.#buffer.write(text, this.#length, bytes, plain ? 'latin1' : 'utf8');
    return full;
  }

  /** The last chunk, with the closing bracket. */
  end(): Buffer {
    if (this.#length === this.#buffer.length) {
      const last = Buffer.allocUnsafe(this.#length + 1);
      this.#buffer.copy(last);
      this.#buffer = last;
    }
    this.#buffer[this.#length++] = 0x5d; // ]
    return this.#buffer.subarray(0, this.#length);
  }
}
