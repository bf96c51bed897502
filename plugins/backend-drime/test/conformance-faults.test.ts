/**
 * The conformance suite again, with Drime misbehaving at random: 429 (Retry-After),
 * 500/503, connections dropped before or during replies, incomplete uploads. Every
 * upload here fits the retry buffer, so each fault must be absorbed by retries.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { runConformanceSuite } from '@pyrestserver/core/conformance';
import type { DrimeEmulator } from './support/emulator.js';
import { startHarness } from './support/setup.js';

const emulators: DrimeEmulator[] = [];

runConformanceSuite(
  'drime (emulator with random faults)',
  async () => {
    // A retry buffer above the suite's largest upload (inFlightSize + 512 KiB), as the header says.
    const harness = await startHarness({ emulator: { pageSize: 9 }, provider: { max_retries: 10, upload_buffer_size: 8 * 1024 * 1024 } });
    harness.emulator.chaos({ rate: 0.15, seed: 42 });
    emulators.push(harness.emulator);
    return { provider: harness.provider, cleanup: () => harness.emulator.close() };
  },
  { listCount: 120, largeBlobSize: 0 },
);

after(() => {
  // The faults really happened, of every kind.
  const met = emulators[0]!.faultsMet;
  for (const kind of ['429', '500', '503', 'drop-request', 'drop-response', 'incomplete']) {
    assert.ok((met[kind] ?? 0) > 0, `no ${kind} fault met: ${JSON.stringify(met)}`);
  }
});
