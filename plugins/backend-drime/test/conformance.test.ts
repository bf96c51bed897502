/** Core's StorageProvider conformance suite against the Drime emulator. */
import { runConformanceSuite } from '@pyrestserver/core/conformance';
import { startHarness } from './support/setup.js';

runConformanceSuite(
  'drime (emulator, page size 7)',
  async () => {
    const harness = await startHarness({ emulator: { pageSize: 7 } });
    return { provider: harness.provider, cleanup: () => harness.emulator.close() };
  },
  { listCount: 300, largeBlobSize: 64 * 1024 * 1024 },
);
