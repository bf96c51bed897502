import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runConformanceSuite } from '@pyrestserver/core/conformance';
import { LocalProvider } from '../src/provider.js';

runConformanceSuite('local', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pyrs-local-conf-'));
  return {
    provider: new LocalProvider({ root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
