import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { StorageErrorCode } from '../src/errors.js';
import { UploadCheck } from '../src/policies/verify-upload.js';

/** Pipe `chunks` through an UploadCheck; report what a provider consuming it would see. */
async function consume(chunks: Buffer[], size: number, expected?: string) {
  const check = new UploadCheck(size, expected);
  Readable.from(chunks).pipe(check);
  const seen: Buffer[] = [];
  let ended = false;
  check.on('end', () => (ended = true));
  try {
    for await (const chunk of check) seen.push(chunk as Buffer);
    return { ok: true as const, data: Buffer.concat(seen), ended };
  } catch (err) {
    return { ok: false as const, code: (err as { code?: string }).code, ended, data: Buffer.concat(seen) };
  }
}

describe('UploadCheck', () => {
  const data = randomBytes(300_000);
  const name = createHash('sha256').update(data).digest('hex');
  const chunks = [data.subarray(0, 1000), data.subarray(1000, 200_000), data.subarray(200_000)];

  it('passes a body whose SHA-256 is its name through unchanged', async () => {
    const result = await consume(chunks, data.length, name);
    assert.equal(result.ok, true);
    assert.deepEqual(result.data, data);
  });

  it('fails a body with one flipped bit with DIGEST_MISMATCH, before end-of-stream', async () => {
    const bad = Buffer.from(data);
    bad[299_999] ^= 0x80;
    const result = await consume([bad], bad.length, name);
    assert.deepEqual([result.ok, result.ok ? '' : result.code, result.ended], [false, StorageErrorCode.DIGEST_MISMATCH, false]);
  });

  it('fails a short body with INCOMPLETE_BODY, before end-of-stream', async () => {
    const result = await consume(chunks.slice(0, 2), data.length, name);
    assert.deepEqual([result.ok, result.ok ? '' : result.code, result.ended], [false, StorageErrorCode.INCOMPLETE_BODY, false]);
  });

  it('fails a long body with INCOMPLETE_BODY without passing the extra bytes on', async () => {
    const result = await consume([...chunks, Buffer.from('x')], data.length);
    assert.equal(result.ok, false);
    assert.equal(result.ok ? '' : result.code, StorageErrorCode.INCOMPLETE_BODY);
    assert.ok(result.data.length <= data.length);
  });

  it('only counts when no name is given (config, --no-verify-upload)', async () => {
    const result = await consume([Buffer.from('anything')], 8);
    assert.equal(result.ok, true);
    assert.equal(result.data.toString(), 'anything');
  });

  it('accepts an empty body of size 0 named by the SHA-256 of nothing', async () => {
    const empty = createHash('sha256').digest('hex');
    assert.equal((await consume([], 0, empty)).ok, true);
  });
});

describe('UploadCheck of large bodies', () => {
  const data = randomBytes(5 * 1024 * 1024 + 12345);
  const name = createHash('sha256').update(data).digest('hex');
  // Socket-sized chunks, as an HTTP body arrives.
  const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));

  it('passes a body whose SHA-256 is its name, byte for byte', async () => {
    const result = await consume(chunks, data.length, name);
    assert.equal(result.ok, true);
    assert.ok(result.data.equals(data));
  });

  it('fails a body with one flipped bit in its last byte with DIGEST_MISMATCH, before end-of-stream', async () => {
    const bad = Buffer.from(data);
    bad[bad.length - 1]! ^= 0x01;
    const result = await consume([bad.subarray(0, 3_000_000), bad.subarray(3_000_000)], bad.length, name);
    assert.deepEqual([result.ok, result.ok ? '' : result.code, result.ended], [false, StorageErrorCode.DIGEST_MISMATCH, false]);
  });

  it('many bodies at once each get their own digest', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => Buffer.concat([Buffer.from([i]), data.subarray(1, 2 * 1024 * 1024)]));
    const results = await Promise.all(
      bodies.map((body, i) => consume([body], body.length, createHash('sha256').update(bodies[(i + (i % 2)) % 6]!).digest('hex'))),
    );
    // Even bodies carry their own name; odd ones the next body's.
    assert.deepEqual(results.map((r) => r.ok), [true, false, true, false, true, false]);
  });

  it('a body abandoned midway (client hung up) leaves the next upload unaffected', async () => {
    const check = new UploadCheck(data.length, name);
    check.on('error', () => {}); // the hang-up, as receiveUpload sees it
    check.write(data.subarray(0, 2_000_000));
    check.destroy(new Error('client hung up'));
    const result = await consume(chunks, data.length, name);
    assert.equal(result.ok, true);
  });

  it('later uploads (after finished and abandoned ones, from a sender reusing its chunk buffer) never mix bodies', async () => {
    for (let round = 0; round < 6; round++) {
      const abandoned = new UploadCheck(data.length, name);
      abandoned.on('error', () => {});
      abandoned.write(Buffer.alloc(1_500_000, round));
      abandoned.destroy(new Error('client hung up'));
      // A body built from one chunk buffer that the sender overwrites after each write.
      const body = Buffer.concat([Buffer.from([round]), data.subarray(1, 3 * 1024 * 1024)]);
      const reused = Buffer.alloc(65536);
      const check = new UploadCheck(body.length, createHash('sha256').update(body).digest('hex'));
      const seen: Buffer[] = [];
      check.on('data', (chunk: Buffer) => seen.push(Buffer.from(chunk)));
      const done = new Promise<void>((resolve, reject) => (check.on('end', resolve), check.on('error', reject)));
      for (let offset = 0; offset < body.length; offset += reused.length) {
        const n = body.copy(reused, 0, offset, offset + reused.length);
        await new Promise<void>((resolve) => check.write(reused.subarray(0, n), () => resolve()));
        reused.fill(0xee);
      }
      check.end();
      await done;
      assert.equal(Buffer.concat(seen).length, body.length);
    }
  });
});
