import { createHash } from 'node:crypto';

const MAGIC = '$apr1$';
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const md5 = (...parts: Buffer[]): Buffer => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `count` characters of crypt's base-64 alphabet for the 24-bit value `v`, low bits first. */
function to64(v: number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++, v >>= 6) out += ITOA64[v & 0x3f];
  return out;
}

/**
 * Apache's `$apr1$` MD5-crypt (what `htpasswd -m` writes): 1000 rounds of MD5 over
 * password, salt and magic, encoded in crypt's base-64. `salt` is the 1-8 characters
 * after the magic, as stored in the hash.
 */
export function apr1(password: string, salt: string): string {
  const pw = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt.split('$')[0]!.slice(0, 8), 'utf8');

  const alternate = md5(pw, s, pw);
  const parts: Buffer[] = [pw, Buffer.from(MAGIC), s];
  for (let left = pw.length; left > 0; left -= 16) parts.push(alternate.subarray(0, Math.min(left, 16)));
  for (let i = pw.length; i > 0; i >>= 1) parts.push(i & 1 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let f = md5(...parts);

  for (let i = 0; i < 1000; i++) {
    f = md5(i & 1 ? pw : f, i % 3 ? s : Buffer.alloc(0), i % 7 ? pw : Buffer.alloc(0), i & 1 ? f : pw);
  }

  const b = (i: number) => f[i]!;
  const encoded =
    to64((b(0) << 16) | (b(6) << 8) | b(12), 4) +
    to64((b(1) << 16) | (b(7) << 8) | b(13), 4) +
    to64((b(2) << 16) | (b(8) << 8) | b(14), 4) +
    to64((b(3) << 16) | (b(9) << 8) | b(15), 4) +
    to64((b(4) << 16) | (b(10) << 8) | b(5), 4) +
    to64(b(11), 2);
  return `${MAGIC}${s.toString('utf8')}$${encoded}`;
}
