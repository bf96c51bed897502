import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentRange, parseRange } from '../src/protocol/ranges.js';

const partial = (start: number, end: number) => ({ status: 206, range: { start, end } });
const WHOLE = { status: 200 };
const NO_OVERLAP = { status: 416, noOverlap: true };
const INVALID = { status: 416, noOverlap: false };

describe('parseRange', () => {
  it('serves the whole file without a Range header', () => {
    assert.deepEqual(parseRange(undefined, 100), WHOLE);
    assert.deepEqual(parseRange('', 100), WHOLE);
  });

  it('reads the forms restic sends', () => {
    assert.deepEqual(parseRange('bytes=0-', 100), partial(0, 99));
    assert.deepEqual(parseRange('bytes=10-', 100), partial(10, 99));
    assert.deepEqual(parseRange('bytes=10-19', 100), partial(10, 19));
    assert.deepEqual(parseRange('bytes=99-99', 100), partial(99, 99));
  });

  it('reads suffix ranges', () => {
    assert.deepEqual(parseRange('bytes=-10', 100), partial(90, 99));
    assert.deepEqual(parseRange('bytes=-1000', 100), partial(0, 99));
    assert.deepEqual(parseRange('bytes=-0', 100), NO_OVERLAP);
  });

  it('clamps an end past the file', () => {
    assert.deepEqual(parseRange('bytes=50-1000', 100), partial(50, 99));
  });

  it('tolerates spaces and empty list elements, as Go does', () => {
    assert.deepEqual(parseRange('bytes= 5 - 9 ', 100), partial(5, 9));
    assert.deepEqual(parseRange('bytes=,5-9,', 100), partial(5, 9));
    assert.deepEqual(parseRange('bytes=', 100), WHOLE);
  });

  it('answers 416 with Content-Range when nothing overlaps', () => {
    assert.deepEqual(parseRange('bytes=100-', 100), NO_OVERLAP);
    assert.deepEqual(parseRange('bytes=100-200', 100), NO_OVERLAP);
    assert.deepEqual(parseRange('bytes=0-', 0), NO_OVERLAP);
    assert.deepEqual(parseRange('bytes=-5', 0), NO_OVERLAP);
  });

  it('answers 416 without Content-Range for malformed headers', () => {
    for (const header of ['items=0-5', 'bytes=abc', 'bytes=5', 'bytes=9-5', 'bytes=-', 'bytes=--5', 'bytes=1-x', 'bytes=+1-2']) {
      assert.deepEqual(parseRange(header, 100), INVALID, header);
    }
  });

  it('serves several satisfiable ranges as the whole file', () => {
    assert.deepEqual(parseRange('bytes=0-9,20-29', 100), WHOLE);
    // only one of them overlaps: that one
    assert.deepEqual(parseRange('bytes=0-9,200-299', 100), partial(0, 9));
  });

  it('formats Content-Range', () => {
    assert.equal(contentRange({ start: 2, end: 4 }, 11), 'bytes 2-4/11');
  });
});
