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

async function text(body: string | Readable): Promise<string> {
  if (typeof body === 'string') return body;
  let out = '';
  for await (const chunk of body) out += String(chunk);
  return out;
}

describe('listingBody', () => {
  it('gives [] for nothing, in both versions', async () => {
    assert.equal(await listingBody(entries(0), false), '[]');
    assert.equal(await listingBody(entries(0), true), '[]');
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
