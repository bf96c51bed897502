import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** SHA-256 of a buffer, hex: the name restic gives a file. */
export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Random bytes and their name. */
export function randomBlob(size: number): { data: Buffer; name: string } {
  const data = randomBytes(size);
  return { data, name: sha256(data) };
}

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * `size` pseudo-random bytes as a stream, the same for the same `seed` (AES-256-CTR
 * over zeros: fast, and nothing is held in memory).
 */
export function pseudoRandomStream(seed: string, size: number): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  let left = size;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, ZEROS.length);
      left -= n;
      this.push(cipher.update(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n)));
    },
  });
}

/** SHA-256 (hex) and byte count of everything a stream yields. */
export async function hashStream(stream: AsyncIterable<Buffer>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}
