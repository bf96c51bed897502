/**
 * SHA-256 of large upload bodies on a worker thread.
 *
 * Node hashes on the thread that calls `update()`; for an 8 MiB pack that is several
 * milliseconds of the event loop's time per upload, during which no other request moves.
 * Large bodies are therefore hashed by one worker thread (the machine's other core).
 *
 * The bytes go to it in slabs that are used again and again: each chunk is copied into the
 * upload's current slab at once (so the socket's chunk can be freed while it is young), a
 * full slab is transferred to the worker (moved, not copied), which hashes it and transfers
 * it back. Plain ArrayBuffers, not SharedArrayBuffers: V8 copies into shared memory with a
 * word-by-word "relaxed" memmove, which cost the event loop ~0.8 ms per MiB uploaded here
 * (perf: 17% of the main thread during 8 MiB uploads). No buffer is allocated per batch on
 * either thread, so memory does not pile up between garbage collections (V8 frees
 * ArrayBuffers late: tens of MiB of dead batches used to wait for a major collection). At
 * most `MAX_OUTSTANDING` bytes of one upload wait to be hashed, so memory stays bounded by
 * the number of uploads in flight, whatever the body sizes.
 *
 * The worker is started on first use and does not keep the process alive. If it fails,
 * the uploads being hashed fail (their clients retry) and the next upload starts a new one.
 */
import { Worker } from 'node:worker_threads';
import { LARGE_BUFFER_BYTES, largeBuffers } from '../storage/buffer-pool.js';

/** Bodies at least this large are hashed off the event loop; smaller ones inline (cheaper than messaging). */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;
/** Bytes gathered (one slab, from the shared pool of large buffers) before they are sent to the worker. */
export const BATCH_BYTES = LARGE_BUFFER_BYTES;
/**
 * Bytes of one upload sent but not yet hashed before reading its body pauses: one slab (two
 * gave the same 8 MiB upload throughput in three alternating runs, 374-408 against 377-424
 * MB/s, and a 3 MiB higher peak), so reading pauses only while a second slab waits behind
 * the one being hashed.
 */
export const MAX_OUTSTANDING = BATCH_BYTES;

// CommonJS, evaluated: no file to find next to this module, whether it runs from dist or src.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.abort) { hashes.delete(m.id); return; }
  let hash = hashes.get(m.id);
  if (!hash) hashes.set(m.id, (hash = createHash('sha256')));
  if (m.slab) {
    hash.update(new Uint8Array(m.slab, 0, m.length));
    parentPort.postMessage({ id: m.id, slab: m.slab, hashed: m.length }, [m.slab]);
  }
  if (m.end) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: hash.digest('hex') });
  }
});
`;

interface Job {
  onHashed(bytes: number): void;
  onDigest(digest: string): void;
  onError(err: Error): void;
}

let worker: Worker | undefined;
const jobs = new Map<number, Job>();
let nextId = 1;

/** The worker keeps the process alive while some body waits for its digest, not longer. */
function track(id: number, job: Job): void {
  if (jobs.size === 0) worker?.ref();
  jobs.set(id, job);
}
function untrack(id: number): boolean {
  const had = jobs.delete(id);
  if (had && jobs.size === 0) worker?.unref();
  return had;
}

function theWorker(): Worker {
  if (worker) return worker;
  // A small young generation, as the main thread's (bin.js): the batches it receives are
  // freed at its next scavenge, so they must come often.
  const started = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  started.on('message', (m: { id: number; hashed?: number; slab?: ArrayBuffer; digest?: string }) => {
    // A slab comes back once hashed, also for an upload that was aborted meanwhile.
    if (m.slab) largeBuffers.give(m.slab);
    const job = jobs.get(m.id);
    if (!job) return;
    if (m.hashed !== undefined) job.onHashed(m.hashed);
    if (m.digest !== undefined) {
      untrack(m.id);
      job.onDigest(m.digest);
    }
  });
  const fail = (err: Error) => {
    if (worker === started) worker = undefined;
    const failed = [...jobs.values()];
    jobs.clear();
    for (const job of failed) job.onError(err);
  };
  started.on('error', fail);
  started.on('exit', (code) => fail(new Error(`the hashing thread stopped (exit code ${code})`)));
  // Kept alive only while a body is being hashed (see track/untrack); after the listeners,
  // since adding one refs the worker again.
  started.unref();
  worker = started;
  return started;
}

/** One body's SHA-256, computed by the worker from the slabs it is sent. */
export class OffThreadHash {
  readonly #id = nextId++;
  readonly #worker = theWorker();
  /** The slab being filled, and how far. */
  #slab: Uint8Array | undefined;
  #filled = 0;
  #outstanding = 0;
  #drained: (() => void) | undefined;
  #digest: Promise<string>;
  #failed: Error | undefined;

  constructor() {
    let resolve!: (digest: string) => void;
    let reject!: (err: Error) => void;
    this.#digest = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    this.#digest.catch(() => {}); // raised by digest()
    track(this.#id, {
      onHashed: (bytes) => {
        this.#outstanding -= bytes;
        if (this.#outstanding <= MAX_OUTSTANDING) this.#wake();
      },
      onDigest: resolve,
      onError: (err) => {
        this.#failed = err;
        reject(err);
        this.#wake();
      },
    });
  }

  /**
   * Add bytes (copied at once: the caller may reuse or drop `chunk`). Resolves at once, or,
   * when too many bytes of this body wait to be hashed, once the worker has caught up (the
   * caller then holds back the next chunk).
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#failed) return Promise.reject(this.#failed);
    for (let offset = 0; offset < chunk.length; ) {
      this.#slab ??= new Uint8Array(largeBuffers.take()); // the pool large downloads use too
      const n = Math.min(chunk.length - offset, BATCH_BYTES - this.#filled);
      this.#slab.set(n === chunk.length ? chunk : chunk.subarray(offset, offset + n), this.#filled);
      this.#filled += n;
      offset += n;
      if (this.#filled === BATCH_BYTES) this.#send(false);
    }
    if (this.#outstanding <= MAX_OUTSTANDING) return undefined;
    return new Promise((resolve) => (this.#drained = resolve));
  }

  /** The hex digest of every byte added. */
  digest(): Promise<string> {
    if (!this.#failed) this.#send(true);
    return this.#digest;
  }

  /** Forget the body (its upload failed): the worker drops its state. */
  abort(): void {
    this.#failed ??= new Error('the upload was aborted');
    if (this.#slab) largeBuffers.give(this.#slab.buffer as ArrayBuffer);
    this.#slab = undefined;
    if (!untrack(this.#id)) return;
    this.#worker.postMessage({ id: this.#id, abort: true });
    this.#wake();
  }

  #send(end: boolean): void {
    const slab = this.#slab;
    if (!slab || this.#filled === 0) {
      if (end) this.#worker.postMessage({ id: this.#id, end });
      return;
    }
    this.#outstanding += this.#filled;
    this.#worker.postMessage({ id: this.#id, slab: slab.buffer, length: this.#filled, end }, [slab.buffer as ArrayBuffer]);
    this.#slab = undefined;
    this.#filled = 0;
  }

  #wake(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }
}
