/**
 * File-descriptor calls that run synchronously while the SyncGate is open and through
 * the thread pool otherwise (see sync-gate.ts). Errors are Node's own (errno codes), for
 * the caller to map. fsync always goes through the thread pool.
 */
import {
  close, closeSync, fchmod, fchmodSync, fstat, fstatSync, fsync, link, linkSync, open, openSync,
  read, readSync, stat, statSync, unlink, unlinkSync, write, writeSync, type Stats,
} from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { ChunkPool } from './chunk-pool.js';
import type { SyncGate } from './sync-gate.js';

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const linkAsync = promisify(link);
const unlinkAsync = promisify(unlink);
const statAsync = promisify(stat);

/** stat() a path; undefined when it does not exist (or a folder on the way is a file). */
export async function statOrUndefined(gate: SyncGate, file: string): Promise<Stats | undefined> {
  if (gate.open) return gate.run(() => statSync(file, { throwIfNoEntry: false }));
  try {
    return await statAsync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export const openFd = (gate: SyncGate, file: string, flags: string, mode?: number): Promise<number> | number =>
  gate.open ? gate.run(() => openSync(file, flags, mode)) : openAsync(file, flags, mode);

export const fstatFd = (gate: SyncGate, fd: number): Promise<Stats> | Stats =>
  gate.open ? gate.run(() => fstatSync(fd)) : fstatAsync(fd);

export const fchmodFd = (gate: SyncGate, fd: number, mode: number): Promise<void> | void =>
  gate.open ? gate.run(() => fchmodSync(fd, mode)) : fchmodAsync(fd, mode);

export const closeFd = (gate: SyncGate, fd: number): Promise<void> | void =>
  gate.open ? gate.run(() => closeSync(fd)) : closeAsync(fd);

export const fsyncFd = (fd: number): Promise<void> => fsyncAsync(fd);

export const linkPath = (gate: SyncGate, from: string, to: string): Promise<void> | void =>
  gate.open ? gate.run(() => linkSync(from, to)) : linkAsync(from, to);

export const unlinkPath = (gate: SyncGate, file: string): Promise<void> | void =>
  gate.open ? gate.run(() => unlinkSync(file)) : unlinkAsync(file);

/**
 * Read `length` bytes at `position` (into `into` when given, at least `length` long);
 * fewer (the file shrank) is an error for the caller.
 */
export function readAt(gate: SyncGate, fd: number, length: number, position: number, into?: Buffer): Promise<Buffer> | Buffer {
  const buffer = into ?? Buffer.allocUnsafe(length);
  if (gate.open) {
    const n = gate.run(() => readSync(fd, buffer, 0, length, position));
    return n === buffer.length ? buffer : buffer.subarray(0, n);
  }
  return new Promise((resolve, reject) =>
    read(fd, buffer, 0, length, position, (err, n) => (err ? reject(err) : resolve(n === buffer.length ? buffer : buffer.subarray(0, n)))),
  );
}

/** Write all of `buffers` at the file's current position. */
export async function writeAll(gate: SyncGate, fd: number, buffers: readonly Buffer[]): Promise<void> {
  for (const buffer of buffers) {
    for (let off = 0; off < buffer.length; ) {
      off += gate.open
        ? gate.run(() => writeSync(fd, buffer, off, buffer.length - off))
        : await new Promise<number>((resolve, reject) =>
            write(fd, buffer, off, buffer.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
          );
    }
  }
}

/**
 * The bytes `start..end` (inclusive) of an open file, read `chunk` bytes at a time as the
 * consumer asks: synchronously while the gate is open (a read from the page cache costs
 * less than the thread-pool round trip it would need), through the thread pool otherwise.
 * Owns `fd`: closes it at the end, on error and when destroyed. A file that turns out
 * shorter than the range makes the stream error, never end early. Reads go into buffers of
 * `pool`, which come back through `recycle()` once the server has sent their bytes.
 */
export class FileRangeStream extends Readable {
  #position: number;
  readonly #end: number;
  readonly #fd: number;
  readonly #gate: SyncGate;
  readonly #pool: ChunkPool;

  constructor(fd: number, start: number, end: number, gate: SyncGate, pool: ChunkPool) {
    super({ highWaterMark: pool.size });
    this.#fd = fd;
    this.#position = start;
    this.#end = end;
    this.#gate = gate;
    this.#pool = pool;
  }

  /** The server is done with `chunk` (its bytes left the process): its buffer can be read into again. */
  recycle(chunk: Uint8Array): void {
    this.#pool.give(chunk);
  }

  override _read(): void {
    const length = Math.min(this.#pool.size, this.#end - this.#position + 1);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const position = this.#position;
    const buffer = this.#pool.take();
    const done = (err: unknown, bytes?: Buffer): void => {
      if (err) {
        this.#pool.give(buffer);
        this.destroy(err as Error);
      } else if (bytes!.length === 0) {
        this.#pool.give(buffer);
        this.destroy(new Error('the file is shorter than its size'));
      } else {
        this.#position += bytes!.length;
        this.push(bytes);
      }
    };
    let pending: Promise<Buffer> | Buffer;
    try {
      pending = readAt(this.#gate, this.#fd, length, position, length === buffer.length ? buffer : buffer.subarray(0, length));
    } catch (err) {
      done(err);
      return;
    }
    if (Buffer.isBuffer(pending)) done(undefined, pending);
    else pending.then((bytes) => done(undefined, bytes), done);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    Promise.resolve()
      .then(() => closeFd(this.#gate, this.#fd))
      .then(
        () => callback(err),
        (closeErr: unknown) => callback(err ?? (closeErr as Error)),
      );
  }
}
