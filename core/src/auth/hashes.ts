import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { apr1 } from './apr1.js';

/** The htpasswd hash formats we verify. Plain text and DES crypt are refused. */
export type HashKind = 'bcrypt' | 'sha1' | 'apr1';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;
const APR1 = /^\$apr1\$[^$]{1,8}\$[./A-Za-z0-9]{22}$/;

/** Which supported format `hash` is in, or undefined (plain text, crypt, unknown). */
export function hashKind(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (SHA1.test(hash)) return 'sha1';
  if (APR1.test(hash)) return 'apr1';
  return undefined;
}

/** Constant-time string equality (lengths are not secret: they follow from the format). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when `password` matches `hash`, a hash of a supported kind. */
export async function verifyHash(hash: string, password: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'bcrypt':
      // bcryptjs compares in constant time and yields to the event loop while hashing.
      return bcrypt.compare(password, hash);
    case 'sha1':
      return safeEqual(hash, `{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`);
    case 'apr1':
      return safeEqual(hash, apr1(password, hash.slice('$apr1$'.length)));
    default:
      return false;
  }
}

/**
 * A bcrypt hash (cost 10, the `htpasswd -B` default) of a random string nobody knows.
 * Checked against for unknown users so that a wrong user name costs as much time as a
 * wrong password: response times do not tell which user names exist.
 */
export const DUMMY_BCRYPT = '$2y$10$RODp80pQzvrG7.r7bvywSO3ov0enNL9OY1zyErvGjf.zKo81hwWgW';
