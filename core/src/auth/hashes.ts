import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { verifyInWorker } from './crypt-pool.js';
import { safeEqualStrings as safeEqual } from './safe-equal.js';

// The native module loads with the first bcrypt hash (a server without htpasswd never needs it).
const requireHere = createRequire(import.meta.url);
let bcryptModule: typeof import('@node-rs/bcrypt') | undefined;
const bcrypt = () => (bcryptModule ??= requireHere('@node-rs/bcrypt') as typeof import('@node-rs/bcrypt'));

/** The htpasswd hash formats we verify. Plain text and DES crypt are refused. */
export type HashKind = 'bcrypt' | 'sha1' | 'apr1' | 'sha256crypt' | 'sha512crypt';

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;
const APR1 = /^\$apr1\$([^$]{1,8})\$[./A-Za-z0-9]{22}$/;
/** SHA-crypt (`htpasswd -2` / `-5`): optional `rounds=N`, a salt of up to 16 characters. */
const SHA_CRYPT = /^\$([56])\$(?:rounds=(\d{1,9})\$)?([^$]{0,16})\$([./A-Za-z0-9]{43}|[./A-Za-z0-9]{86})$/;

/** Which supported format `hash` is in, or undefined (plain text, crypt, unknown). */
export function hashKind(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (SHA1.test(hash)) return 'sha1';
  if (APR1.test(hash)) return 'apr1';
  const sha = SHA_CRYPT.exec(hash);
  if (sha && sha[4]!.length === (sha[1] === '5' ? 43 : 86)) return sha[1] === '5' ? 'sha256crypt' : 'sha512crypt';
  return undefined;
}

/**
 * What a verification against `hash` costs, as a string: its kind plus the parameters
 * that decide its running time (bcrypt cost, SHA-crypt rounds and salt length).
 * Two hashes with the same cost key take the same time to check.
 */
export function costKey(hash: string): string | undefined {
  const kind = hashKind(hash);
  switch (kind) {
    case 'bcrypt':
      return `bcrypt/${BCRYPT.exec(hash)![1]}`;
    case 'apr1':
      return `apr1/${APR1.exec(hash)![1]!.length}`;
    case 'sha256crypt':
    case 'sha512crypt': {
      const m = SHA_CRYPT.exec(hash)!;
      return `${kind}/${shaRounds(m[2])}/${m[3]!.length}`;
    }
    default:
      return kind;
  }
}

/** SHA-crypt's effective rounds: 5000 when absent, clamped to 1000..999999999 as glibc does. */
const shaRounds = (given: string | undefined) => (given === undefined ? 5000 : Math.min(999_999_999, Math.max(1000, Number(given))));

export { safeEqualStrings as safeEqual } from './safe-equal.js';

/**
 * True when `password` matches `hash`, a hash of a supported kind. Nothing here runs on
 * the event loop for longer than a SHA-1: bcrypt runs natively on libuv's thread pool,
 * APR1 and SHA-crypt in a worker thread (crypt-pool.ts).
 */
export async function verifyHash(hash: string, password: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'bcrypt':
      // Constant-time comparison inside; a malformed hash resolves false.
      return bcrypt().verify(password, hash).catch(() => false);
    case 'sha1':
      return safeEqual(hash, `{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`);
    case 'apr1':
    case 'sha256crypt':
    case 'sha512crypt':
      return verifyInWorker(hash, password);
    default:
      return false;
  }
}

const CRYPT64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const randomCrypt64 = (n: number) => [...randomBytes(n)].map((b) => CRYPT64[b & 63]).join('');

/**
 * A hash of the same kind and cost as `like` (see costKey) that no password matches, so
 * a wrong user name costs what a wrong password of a real user in the same file costs.
 * bcrypt's is a real hash of a random password, made on the thread pool: a hand-made one
 * could fail to decode, and the library then answers false at once. The others are a random
 * salt and digest of the right length (their check recomputes and compares strings).
 */
export async function dummyHashLike(like: string): Promise<string> {
  switch (hashKind(like)) {
    case 'bcrypt':
      return bcrypt().hash(randomBytes(18).toString('base64'), Number(BCRYPT.exec(like)![1]));
    case 'apr1':
      return `$apr1$${randomCrypt64(APR1.exec(like)![1]!.length)}$${randomCrypt64(22)}`;
    case 'sha256crypt':
    case 'sha512crypt': {
      const m = SHA_CRYPT.exec(like)!;
      const rounds = m[2] === undefined ? '' : `rounds=${m[2]}$`;
      return `$${m[1]}$${rounds}${randomCrypt64(m[3]!.length)}$${randomCrypt64(m[4]!.length)}`;
    }
    case 'sha1':
      return `{SHA}${randomBytes(20).toString('base64')}`;
    default:
      return DUMMY_BCRYPT;
  }
}

/**
 * A bcrypt hash (cost 10, the bcrypt default) of a random string nobody knows: the dummy
 * for a file without any usable entry.
 */
export const DUMMY_BCRYPT = '$2y$10$RODp80pQzvrG7.r7bvywSO3ov0enNL9OY1zyErvGjf.zKo81hwWgW';
