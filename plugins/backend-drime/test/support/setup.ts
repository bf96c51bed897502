/** A provider over a fresh emulator, with retries that record their delays instead of sleeping. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createDrimeProvider, type DrimeOptions, type DrimeProvider } from '../../src/index.js';
import { DrimeEmulator, type EmulatorOptions } from './emulator.js';

export interface Harness {
  emulator: DrimeEmulator;
  provider: DrimeProvider;
  /** Every retry delay asked for (ms), in order. */
  delays: number[];
  /** Everything logged (pino JSON lines). */
  logs: string[];
  /** Move the provider's clock forward (retry holds, cache ages) without waiting. */
  advance(ms: number): void;
  close(): Promise<void>;
}

/** A pino logger writing JSON lines into `lines`, at every level. */
export function capturingLogger(lines: string[]) {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return pino({ level: 'trace' }, sink);
}

export async function startHarness(
  options: { emulator?: EmulatorOptions; provider?: Partial<DrimeOptions> } = {},
): Promise<Harness> {
  const emulator = await DrimeEmulator.start(options.emulator);
  const delays: number[] = [];
  const logs: string[] = [];
  // Retries record their waits and move a clock of their own forward instead of sleeping.
  let slept = 0;
  try {
    const provider = await createDrimeProvider(
      { api_key: emulator.apiKey, api_url: emulator.url, retry_delay: 10, ...options.provider },
      { logger: capturingLogger(logs) },
      {
        sleep: async (ms) => {
          delays.push(ms);
          slept += ms;
        },
        now: () => Date.now() + slept,
      },
    );
    return {
      emulator,
      provider,
      delays,
      logs,
      advance: (ms) => void (slept += ms),
      async close() {
        await provider.close();
        await emulator.close();
      },
    };
  } catch (err) {
    await emulator.close();
    throw err;
  }
}

/** The emulator's per-endpoint counts without the zeros, for exact assertions. */
export function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}
