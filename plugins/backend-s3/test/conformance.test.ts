/** Core's StorageProvider conformance suite against a real Ceph RGW: once with a prefix and small parts, once at the bucket root. */
import { runConformanceSuite } from '@pyrestserver/core/conformance';
import { startHarness } from './support/setup.js';

const MiB = 1024 * 1024;

runConformanceSuite(
  's3 (Ceph RGW, prefix, 5 MiB parts)',
  async () => {
    const h = await startHarness('conf', { prefix: 'backups/restic', part_size: 5 * MiB });
    return { provider: h.provider, cleanup: () => h.close() };
  },
  { listCount: 1200, largeBlobSize: 24 * MiB, timeout: 120_000 },
);

runConformanceSuite(
  's3 (Ceph RGW, bucket root)',
  async () => {
    const h = await startHarness('root');
    return { provider: h.provider, cleanup: () => h.close() };
  },
  { listCount: 300, largeBlobSize: 16 * MiB, timeout: 120_000 },
);
