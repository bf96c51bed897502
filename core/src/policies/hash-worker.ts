/**
 * SHA-256 of large upload bodies on a worker thread.
 *
 * Node hashes on the thread that calls `update()`; for an 8 MiB pack that is several
 * milliseconds of the event loop's time per upload, during which no other request moves.
 * Large bodies are therefore hashed by one worker thread (the machine's other core): the
 * upload's bytes are copied to it in batches (one copy, transferred, never cloned again),
 * it acknowledges each batch once hashed, and gives the digest at the end. At most
 * `MAX_OUTSTANDING` bytes of one upload wait to be hashed, so memory stays bounded by the
 * number of uploads in flight, whatever the body sizes.
 *
 * The worker is started on first use and does not keep the process alive. If it fails,
 * the uploads being hashed fail (their clients retry) and the next upload starts a new one.
 */
import { Worker } from 'node:worker_threads';

/** Bodies at least this large are hashed off the event loop; smaller ones inline (cheaper than messaging). */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;
/** Bytes gathered before they are sent to the worker. */
export const BATCH_BYTES = 512 * 1024;
/** Bytes of one upload sent but not yet hashed before reading its body pauses. */
export const MAX_OUTSTANDING = 2 * BATCH_BYTES;

// CommonJS, evaluated: no file to find next to this module, whether it runs from dist or src.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.abort) { hashes.delete(m.id); return; }
  let hash = hashes.get(m.id);
  if (!hash) hashes.set(m.id, (hash = createHash('sha256')));
  if (m.bytes) {
    hash.update(new Uint8Array(m.bytes));
    parentPort.postMessage({ id: m.id, hashed: m.bytes.byteLength });
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
  started.on('message', (m: { id: number; hashed?: number; digest?: string }) => {
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

/** One body's SHA-256, computed by the worker from the batches it is sent. */
export class OffThreadHash {
  readonly #id = nextId++;
  readonly #worker = theWorker();
  #batch: Buffer[] = [];
  #batchBytes = 0;
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
   * Add bytes. Resolves at once, or, when too many bytes of this body wait to be hashed,
   * once the worker has caught up (the caller then holds back the next chunk).
   */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.#failed) return Promise.reject(this.#failed);
    this.#batch.push(chunk);
    this.#batchBytes += chunk.length;
    if (this.#batchBytes >= BATCH_BYTES) this.#send(false);
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
    if (!untrack(this.#id)) return;
    this.#worker.postMessage({ id: this.#id, abort: true });
    this.#wake();
  }

  #send(end: boolean): void {
    if (this.#batchBytes === 0) {
      if (end) this.#worker.postMessage({ id: this.#id, end });
      return;
    }
    // One copy into a buffer of its own, whose memory moves to the worker.
    const bytes = new ArrayBuffer(this.#batchBytes);
    const view = new Uint8Array(bytes);
    let offset = 0;
    for (const part of this.#batch) {
      view.set(part, offset);
      offset += part.length;
    }
    this.#outstanding += this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#worker.postMessage({ id: this.#id, bytes, end }, [bytes]);
  }

  #wake(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }
}
