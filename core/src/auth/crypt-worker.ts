/**
 * The worker thread of crypt-pool.ts: verifies APR1 and SHA-crypt hashes, which are
 * thousands of rounds of MD5/SHA in JavaScript (tens of milliseconds), off the event loop.
 * Messages in: `{ id, hash, password }`; out: `{ id, ok }`.
 */
import { parentPort } from 'node:worker_threads';
import { encrypt } from 'unixcrypt';
import { apr1 } from './apr1.js';
import { safeEqualStrings } from './safe-equal.js';

function verify(hash: string, password: string): boolean {
  try {
    if (hash.startsWith('$apr1$')) return safeEqualStrings(hash, apr1(password, hash.slice('$apr1$'.length)));
    // SHA-crypt: the setting is everything before the last `$` (id, rounds, salt).
    return safeEqualStrings(hash, encrypt(password, hash.slice(0, hash.lastIndexOf('$'))));
  } catch {
    return false;
  }
}

parentPort!.on('message', ({ id, hash, password }: { id: number; hash: string; password: string }) => {
  parentPort!.postMessage({ id, ok: verify(hash, password) });
});
