/** restic-like files for tests: names are the SHA-256 of the content. */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobType, FileRef, StorageProvider } from '@pyrestserver/core';

export interface Blob {
  data: Buffer;
  name: string;
  ref(repo: string, type?: BlobType): FileRef;
}

export function blobOf(data: Buffer): Blob {
  const name = createHash('sha256').update(data).digest('hex');
  return { data, name, ref: (repo, type = 'data') => ({ repo, type, name }) };
}

export const randomBlob = (size: number) => blobOf(randomBytes(size));

/** A blob whose name starts with `prefix` (so it lands in `data/<prefix>`). */
export function blobIn(prefix: string, size = 100): Blob {
  for (;;) {
    const blob = randomBlob(size);
    if (blob.name.startsWith(prefix)) return blob;
  }
}

export function bodyOf(data: Buffer, chunk = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) chunks.push(data.subarray(off, off + chunk));
  return Readable.from(chunks, { objectMode: false });
}

export async function readAll(p: StorageProvider, ref: FileRef, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await p.read(ref, range)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function listAll(p: StorageProvider, repo: string, type: BlobType) {
  const out: { name: string; size: number }[] = [];
  for await (const info of p.list(repo, type)) out.push({ name: info.name, size: info.size });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export const write = (p: StorageProvider, ref: FileRef, data: Buffer) => p.write(ref, bodyOf(data), data.length);
