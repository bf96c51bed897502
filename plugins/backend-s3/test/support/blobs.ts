/** Blobs named by their SHA-256, and bodies that fail at chosen points. */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobType, FileRef, StorageProvider } from '@pyrestserver/core';

export function randomBlob(size: number) {
  const data = randomBytes(size);
  const name = createHash('sha256').update(data).digest('hex');
  return { data, name, ref: (repo: string, type: BlobType = 'data'): FileRef => ({ repo, type, name }) };
}

export function bodyOf(data: Buffer, chunk = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) chunks.push(data.subarray(off, off + chunk));
  return Readable.from(chunks, { objectMode: false });
}

/** All of `data`, then an error instead of the end (what core does when the SHA-256 is wrong). */
export function failingAtEnd(data: Buffer, error: Error, chunk = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset < data.length) {
        this.push(data.subarray(offset, offset + chunk));
        offset += chunk;
      } else {
        setImmediate(() => this.destroy(error));
      }
    },
  });
}

export async function readAll(provider: StorageProvider, ref: FileRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await provider.read(ref)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function drain(stream: Readable | Uint8Array): Promise<Buffer> {
  if (stream instanceof Uint8Array) return Buffer.from(stream);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
