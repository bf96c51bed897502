import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { obscure, reveal, tryReveal } from '../src/config/obscure.js';
import { KEY_HEX, pyObscure, pyReveal } from './vaultconfig.js';

function openssl(args: string[], input: Buffer): Buffer {
  const run = spawnSync('openssl', ['enc', '-aes-256-ctr', '-K', KEY_HEX, ...args], { input });
  assert.equal(run.error, undefined, 'openssl must be installed');
  assert.equal(run.status, 0, `openssl failed: ${run.stderr}`);
  return run.stdout;
}

const SAMPLES = ['api-key-123', 'pässwörd 🔑', 'x', 'a much longer secret value that spans several AES blocks, 0123456789'];

test('values obscured by PyRestServer (vaultconfig scheme) reveal here', () => {
  assert.deepEqual(pyObscure(SAMPLES).map(reveal), SAMPLES);
});

test('values obscured here reveal in PyRestServer (vaultconfig scheme)', () => {
  const mine = SAMPLES.map(obscure);
  for (const value of mine) assert.match(value, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(pyReveal(mine), SAMPLES);
});

test('openssl decrypts what obscure writes: IV first, then AES-256-CTR ciphertext', () => {
  const raw = Buffer.from(obscure('secret via openssl'), 'base64url');
  const plain = openssl(['-d', '-iv', raw.subarray(0, 16).toString('hex')], raw.subarray(16));
  assert.equal(plain.toString('utf8'), 'secret via openssl');
});

test('reveal reads a value built by openssl', () => {
  const iv = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const ciphertext = openssl(['-iv', iv.toString('hex')], Buffer.from('built by openssl'));
  assert.equal(reveal(Buffer.concat([iv, ciphertext]).toString('base64url')), 'built by openssl');
});

test('a fixed vector (produced with openssl) keeps revealing', () => {
  // IV 000102..0f, plaintext "hunter2": openssl enc -aes-256-ctr -K <key> -iv 000102030405060708090a0b0c0d0e0f
  const iv = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const vector = Buffer.concat([iv, openssl(['-iv', iv.toString('hex')], Buffer.from('hunter2'))]).toString('base64url');
  assert.equal(vector, FIXED_VECTOR);
  assert.equal(reveal(FIXED_VECTOR), 'hunter2');
});
const FIXED_VECTOR = 'AAECAwQFBgcICQoLDA0ODy5sdf7Lnlc';

test('each obscure uses a fresh IV', () => {
  const a = obscure('same');
  const b = obscure('same');
  assert.notEqual(a, b);
  assert.equal(reveal(a), 'same');
  assert.equal(reveal(b), 'same');
});

test('the empty string stays empty both ways (as vaultconfig)', () => {
  assert.equal(obscure(''), '');
  assert.equal(reveal(''), '');
});

test('a value that does not reveal is used as written', () => {
  const cases = [
    'plain api key with spaces', // not base64url
    'abc+def/ghi=', // standard base64 alphabet, padding
    'c2hvcnQ', // base64url but shorter than the IV
    'AAAAA', // a length no base64 encoder produces
  ];
  for (const value of cases) {
    assert.equal(tryReveal(value), undefined, value);
    assert.equal(reveal(value), value);
  }
});

test('a value that decrypts to invalid UTF-8 is used as written', () => {
  const iv = Buffer.alloc(16, 7);
  // Encrypting 0xff 0xfe gives a ciphertext that decrypts back to those bytes: not UTF-8.
  const value = Buffer.concat([iv, openssl(['-iv', iv.toString('hex')], Buffer.from([0xff, 0xfe]))]).toString('base64url');
  assert.equal(tryReveal(value), undefined);
  assert.equal(reveal(value), value);
});
