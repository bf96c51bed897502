/**
 * Young-generation collections paced by the bytes read from sockets.
 *
 * Node reads every socket into a new buffer, outside V8's heap, and V8 frees the dead ones
 * only at its next young-generation collection. Collections are triggered by allocation
 * inside the heap: 1 MiB of it with the bin's `--max-semi-space-size=1`. Moving a large body
 * allocates little in the heap per byte, so dead read buffers pile up between collections:
 * 30 MiB and more while relaying 8 MiB reads from an object store (docs/benchmarks.md, "S3
 * backend"). Reporting such bytes here asks V8 for a young-generation collection after every
 * PACE_BYTES, which caps the pile. A collection of an empty young generation costs 46 µs on
 * Node 20 and 75 µs on Node 24 here, more with live objects in it; at 500 MB/s that is about
 * 60 collections a second.
 *
 * The collector comes from V8's gc extension: `--expose-gc` switched on just long enough to
 * create one context that has `gc`, then off, so that no other context gets it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes read between two requested collections. */
export const PACE_BYTES = 8 * 2 ** 20;

type Collect = (options: { type: 'minor' | 'major' }) => void;

let collect: Collect | null | undefined;
let pending = 0;

/** V8's collector, or null where it cannot be had (then nothing is paced). */
export function youngCollector(): Collect | null {
  if (collect === undefined) {
    // Started with --expose-gc: the flag is the user's, and stays as it is.
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') return (collect = exposed as Collect);
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      collect = typeof gc === 'function' ? (gc as Collect) : null;
    } catch {
      collect = null;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  return collect;
}

/** `bytes` more were read from a socket into fresh buffers (a body's chunks as they arrive). */
export function paceCollections(bytes: number): void {
  pending += bytes;
  if (pending < PACE_BYTES) return;
  pending = 0;
  youngCollector()?.({ type: 'minor' });
}
