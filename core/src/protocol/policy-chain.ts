import type { Access, Policy } from '../policies/types.js';

/**
 * The server's policies, in order, split by the hooks they implement so that a request
 * only pays for the hooks that exist (none, with default options). Callers pass the same
 * `Access` object to `authorize` and to the hooks that follow it (quota reservations are
 * keyed by it).
 */
export class PolicyChain {
  readonly #authorizers: Policy[];
  readonly #writers: Policy[];
  readonly #failedWriters: Policy[];
  readonly #deleters: Policy[];
  readonly #readers: Policy[];
  /** Some policy wants the size of deleted files (core stats before deleting). */
  readonly needsDeletedSize: boolean;
  /** Some policy wants to hear about served reads. */
  readonly watchesReads: boolean;

  constructor(policies: readonly Policy[]) {
    this.#authorizers = policies.filter((p) => p.authorize);
    this.#writers = policies.filter((p) => p.written);
    this.#failedWriters = policies.filter((p) => p.writeFailed);
    this.#deleters = policies.filter((p) => p.deleted);
    this.#readers = policies.filter((p) => p.read);
    this.needsDeletedSize = policies.some((p) => p.needsDeletedSize === true);
    this.watchesReads = this.#readers.length > 0;
  }

  /** Run every policy's `authorize` in order; the first refusal throws. */
  async authorize(access: Access): Promise<void> {
    for (const policy of this.#authorizers) await policy.authorize!(access);
  }

  written(access: Access, size: number): void {
    for (const policy of this.#writers) policy.written!(access, size);
  }

  /** An authorized write stored nothing (provider error, client abort, bad digest, exists). */
  writeFailed(access: Access): void {
    for (const policy of this.#failedWriters) policy.writeFailed!(access);
  }

  deleted(access: Access, size: number): void {
    for (const policy of this.#deleters) policy.deleted!(access, size);
  }

  read(access: Access, bytes: number): void {
    for (const policy of this.#readers) policy.read!(access, bytes);
  }
}
