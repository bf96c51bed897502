/**
 * Obscure / reveal secrets stored in configuration files, compatible both ways
 * with PyRestServer (vaultconfig's `Obscurer`, itself rclone's scheme with its
 * own key): AES-256-CTR under a fixed key, a random 16-byte IV in front of the
 * ciphertext, base64url without padding.
 *
 * This is NOT encryption. The key is public (it is in this file and in
 * PyRestServer); obscuring only keeps secrets from being read over a shoulder.
 */
import { createCipheriv, randomBytes } from 'node:crypto';

/** PyRestServer's cipher key (pyrestserver/config.py `_PYRESTSERVER_CIPHER_KEY`). */
const KEY = Buffer.from('0a34b62682e9bae989fc36e770382b38f598f3ceff418e241da459fc801c7863', 'hex');
const IV_BYTES = 16;
/** rclone's `base64.RawURLEncoding`: URL alphabet, no padding (a length of 4n+1 cannot be produced). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** AES-CTR is its own inverse: the same call encrypts and decrypts. */
const crypt = (data: Buffer, iv: Buffer): Buffer => {
  const cipher = createCipheriv('aes-256-ctr', KEY, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
};

/** Obscure `value` (a fresh random IV each time). The empty string stays empty, as in vaultconfig. */
export function obscure(value: string): string {
  if (value === '') return '';
  const iv = randomBytes(IV_BYTES);
  return Buffer.concat([iv, crypt(Buffer.from(value, 'utf8'), iv)]).toString('base64url');
}

/**
 * The plain value behind an obscured one, or `undefined` when `value` is not
 * obscured: not base64url (rclone: "base64 decode failed"), shorter than the IV
 * (rclone and vaultconfig: "input too short"), or not valid UTF-8 once
 * decrypted (vaultconfig's `decode("utf-8")`).
 */
export function tryReveal(value: string): string | undefined {
  if (value === '') return '';
  if (!BASE64URL.test(value) || value.length % 4 === 1) return undefined;
  const raw = Buffer.from(value, 'base64url');
  if (raw.length < IV_BYTES) return undefined;
  try {
    return utf8.decode(crypt(raw.subarray(IV_BYTES), raw.subarray(0, IV_BYTES)));
  } catch {
    return undefined;
  }
}

/**
 * The plain value behind `value`; a value that does not reveal is used as
 * written, as PyRestServer does (so a secret typed by hand into the file works).
 */
export const reveal = (value: string): string => tryReveal(value) ?? value;
