import { timingSafeEqual } from 'node:crypto';

/** Constant-time string equality (lengths are not secret: they follow from the format). */
export function safeEqualStrings(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
