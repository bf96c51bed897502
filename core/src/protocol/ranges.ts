import type { ByteRange } from '../storage/types.js';

/**
 * The answer to a `Range` request header, decided the way Go's http.ServeContent
 * (and so rest-server) decides it:
 * - no header: 200 with the whole file;
 * - one satisfiable range: 206 with that range;
 * - several satisfiable ranges: 200 with the whole file (Go sends multipart/byteranges;
 *   RFC 9110 lets a server ignore Range, and restic never asks for more than one);
 * - no range overlaps the file: 416 with `Content-Range: bytes *\/size`;
 * - a malformed header: 416 without Content-Range (as Go).
 */
export type RangeAnswer =
  | { readonly status: 200 }
  | { readonly status: 206; readonly range: ByteRange }
  | { readonly status: 416; readonly noOverlap: boolean };

const WHOLE: RangeAnswer = Object.freeze({ status: 200 });
const INVALID: RangeAnswer = Object.freeze({ status: 416, noOverlap: false });
const NO_OVERLAP: RangeAnswer = Object.freeze({ status: 416, noOverlap: true });

const DIGITS = /^\d+$/;

export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined || header === '') return WHOLE;
  if (!header.startsWith('bytes=')) return INVALID;

  let found: ByteRange | undefined;
  let count = 0;
  let noOverlap = false;
  for (const raw of header.slice(6).split(',')) {
    const spec = raw.trim();
    if (spec === '') continue;
    const dash = spec.indexOf('-');
    if (dash === -1) return INVALID;
    const first = spec.slice(0, dash).trim();
    const last = spec.slice(dash + 1).trim();
    let start: number;
    let end: number;
    if (first === '') {
      // `-n`: the last n bytes.
      if (!DIGITS.test(last)) return INVALID;
      const n = Math.min(Number(last), size);
      if (n === 0) {
        noOverlap = true;
        continue;
      }
      start = size - n;
      end = size - 1;
    } else {
      if (!DIGITS.test(first)) return INVALID;
      start = Number(first);
      if (start >= size) {
        noOverlap = true;
        continue;
      }
      if (last !== '' && (!DIGITS.test(last) || Number(last) < start)) return INVALID;
      end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    }
    count++;
    found = { start, end };
  }
  if (count === 0) return noOverlap ? NO_OVERLAP : WHOLE;
  if (count > 1) return WHOLE;
  return { status: 206, range: found! };
}

/** The `Content-Range` value of a 206 reply. */
export const contentRange = (range: ByteRange, size: number): string => `bytes ${range.start}-${range.end}/${size}`;

const SINGLE = /^bytes=(\d{1,15})-(\d{0,15})$/;

/**
 * The bytes a `Range` header asks for, before the file's size is known, for a provider that
 * opens and sizes a file in one step (`StorageProvider.open`): `null` without a header,
 * one range for `bytes=a-b` or `bytes=a-` (the end may lie past the file; the provider
 * clamps it), `undefined` for anything else (suffix, several ranges, malformed), which
 * needs the size first. For a single range the final answer is still `parseRange`'s:
 * it is either 206 with exactly the clamped range, or 416.
 */
export function wantedRange(header: string | undefined): ByteRange | null | undefined {
  if (header === undefined || header === '') return null;
  const match = SINGLE.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = match[2] === '' ? Number.MAX_SAFE_INTEGER : Number(match[2]);
  return end >= start ? { start, end } : undefined;
}
