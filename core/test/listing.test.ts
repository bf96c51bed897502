import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { listingBody, wantsV2 } from '../src/protocol/listing.js';
import type { FileInfo } from '../src/storage/types.js';

const NAME = (i: number) => i.toString(16).padStart(64, '0');

async function* entries(n: number, onClose?: () => void): AsyncGenerator<FileInfo> {
  try {
    for (let i = 0; i < n; i++) yield { name: NAME(i), size: i };
  } finally {
    onClose?.();
  }
}

async function text(body: Buffer | Readable): Promise<string> {
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  let out = '';
  for await (const chunk of body) out += String(chunk);
  return out;
}

describe('listingBody', () => {
  it('gives [] for nothing, in both versions', async () => {
    assert.equal(await text(await listingBody(entries(0), false)), '[]');
    assert.equal(await text(await listingBody(entries(0), true)), '[]');
  });

  it('formats v1 names and v2 names with sizes', async () => {
    assert.deepEqual(JSON.parse(await text(await listingBody(entries(3), false))), [NAME(0), NAME(1), NAME(2)]);
    assert.deepEqual(JSON.parse(await text(await listingBody(entries(2), true))), [
      { name: NAME(0), size: 0 },
      { name: NAME(1), size: 1 },
    ]);
  });

  it('streams a long listing as valid JSON', async () => {
    const body = await listingBody(entries(5000), true);
    assert.ok(body instanceof Readable, 'a stream for a long list');
    const parsed = JSON.parse(await text(body)) as FileInfo[];
    assert.equal(parsed.length, 5000);
    assert.deepEqual(parsed[4999], { name: NAME(4999), size: 4999 });
  });

  it('escapes names that need it (a third-party provider may list any name), in whole and streamed listings', async () => {
    const odd = ['quote"d', 'back\\slash', 'tab\there', 'ünïcødé €', '\u0001ctl'];
    async function* mixed(n: number): AsyncGenerator<FileInfo> {
      for (let i = 0; i < n; i++) yield { name: i % 100 === 7 ? `${odd[i % odd.length]}-${i}` : NAME(i), size: i };
    }
    for (const n of [20, 3000]) {
      for (const v2 of [false, true]) {
        const parsed = JSON.parse(await text(await listingBody(mixed(n), v2))) as (string | FileInfo)[];
        assert.equal(parsed.length, n);
        for (let i = 0; i < n; i++) {
          const name = i % 100 === 7 ? `${odd[i % odd.length]}-${i}` : NAME(i);
          assert.deepEqual(parsed[i], v2 ? { name, size: i } : name, `entry ${i} of ${n}`);
        }
      }
    }
  });

  it('fills chunks exactly: every entry count around a chunk border gives valid JSON', async () => {
    // v1 entries of a 64-hex name are 67 bytes with their comma; 64 KiB holds 978 of them.
    for (let n = 970; n <= 990; n++) {
      const parsed = JSON.parse(await text(await listingBody(entries(n), false))) as string[];
      assert.equal(parsed.length, n);
      assert.equal(parsed[n - 1], NAME(n - 1));
    }
    // '[' + a 74-character name in quotes + 977 entries of 67 bytes: exactly 65,536 bytes, so
    // the closing bracket is the first byte past a full chunk.
    async function* exact(): AsyncGenerator<FileInfo> {
      yield { name: 'a'.repeat(74), size: 0 };
      for (let i = 1; i <= 977; i++) yield { name: NAME(i), size: i };
    }
    const parsed = JSON.parse(await text(await listingBody(exact(), false))) as string[];
    assert.equal(parsed.length, 978);
  });

  it('rejects (so the route can answer with a status) when the first read fails', async () => {
    async function* missing(): AsyncGenerator<FileInfo> {
      throw Object.assign(new Error('no repo'), { code: 'PYRS_NOT_FOUND' });
    }
    await assert.rejects(listingBody(missing(), false), { code: 'PYRS_NOT_FOUND' });
  });

  it('releases the provider iterator when the client stops reading', async () => {
    let closed = false;
    const body = (await listingBody(entries(100_000, () => (closed = true)), false)) as Readable;
    const gone = new Promise((resolve) => body.once('close', resolve));
    for await (const _ of body) break; // destroys the stream after the first chunk
    await gone;
    for (let i = 0; i < 10 && !closed; i++) await new Promise((r) => setImmediate(r));
    assert.equal(closed, true);
  });

  it('wantsV2 follows the Accept header', () => {
    assert.equal(wantsV2('application/vnd.x.restic.rest.v2'), true);
    assert.equal(wantsV2('application/vnd.x.restic.rest.v1'), false);
    assert.equal(wantsV2(undefined), false);
  });
});
