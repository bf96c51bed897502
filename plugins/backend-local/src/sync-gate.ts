/**
 * When to make small filesystem calls synchronously.
 *
 * On a local disk a stat(), open() or a write() into the page cache takes a few
 * microseconds, while the same call through Node's thread pool pays a round trip of tens
 * of microseconds and several context switches (measured in docs/benchmarks.md): for the
 * small requests restic sends by the thousand, the round trips are most of the work. So
 * the provider makes such calls synchronously, on the event loop, for as long as they stay
 * fast. Slow calls (a network filesystem, a disk under writeback pressure) close the
 * gate for a while, and calls go through the thread pool, which hides latency instead of
 * blocking every other request. fsync() never runs synchronously: it waits for the disk.
 */

/** A synchronous call slower than this counts as slow. */
export const SLOW_CALL_MS = 1;
/** Calls are judged in rounds of this many... */
export const ROUND_CALLS = 64;
/** ...and more slow calls than this in one round close the gate. One slow call alone is
 * most often the process being preempted on a busy machine, not the filesystem; a slow
 * call during which the process was preempted (its involuntary context switches rose) is
 * not counted at all: the thread pool would only be slower on a machine short of CPU. */
export const SLOW_CALLS_PER_ROUND = 6;
/** One call slower than this closes the gate at once (a hung network filesystem). */
export const HUNG_CALL_MS = 50;
/** How long the gate stays closed. */
export const CLOSED_FOR_MS = 10_000;

export class SyncGate {
  /** A gate that never opens: every call goes through the thread pool. */
  static readonly closed: SyncGate = new (class extends SyncGate {
    override get open(): boolean {
      return false;
    }
  })();

  #closedUntil = 0;
  #closings = 0;
  #calls = 0;
  #slowInRound = 0;
  readonly #switches: () => number;
  /** Involuntary context switches of the process when last asked (only slow calls ask). */
  #involuntary: number;

  /** @param involuntarySwitches the process's involuntary context switches so far (tests give their own) */
  constructor(involuntarySwitches: () => number = () => process.resourceUsage().involuntaryContextSwitches) {
    this.#switches = involuntarySwitches;
    this.#involuntary = involuntarySwitches();
  }

  /** True when calls may run synchronously now. */
  get open(): boolean {
    return this.#closedUntil === 0 || this.#reopen();
  }

  /** How many times the gate was closed (for tests and diagnostics). */
  get closings(): number {
    return this.#closings;
  }

  /** Run `call` synchronously, timing it; slow calls close the gate. */
  run<T>(call: () => T): T {
    const started = performance.now();
    try {
      return call();
    } finally {
      this.#judge(performance.now() - started);
    }
  }

  /** Close the gate for CLOSED_FOR_MS (also what slow calls do). */
  close(): void {
    this.#closings++;
    this.#closedUntil = performance.now() + CLOSED_FOR_MS;
    this.#calls = 0;
    this.#slowInRound = 0;
  }

  #judge(ms: number): void {
    if (ms > HUNG_CALL_MS) return this.close();
    if (ms > SLOW_CALL_MS && !this.#preempted() && ++this.#slowInRound > SLOW_CALLS_PER_ROUND) return this.close();
    if (++this.#calls >= ROUND_CALLS) {
      this.#calls = 0;
      this.#slowInRound = 0;
    }
  }

  /** True when the process was preempted since the last slow call: the CPU was short, not the disk. */
  #preempted(): boolean {
    const now = this.#switches();
    const preempted = now > this.#involuntary;
    this.#involuntary = now;
    return preempted;
  }

  #reopen(): boolean {
    if (performance.now() < this.#closedUntil) return false;
    this.#closedUntil = 0;
    return true;
  }
}
