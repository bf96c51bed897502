import type { AddressInfo } from 'node:net';
import { createServer, type ServerOptions, type StorageProvider } from '@pyrestserver/core';
import { LocalProvider } from 'pyrestserver-backend-local';
import { removeDir, tempDir } from './tmp.js';

export interface TestServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The data directory (the local backend's `--path`). */
  readonly dir: string;
  readonly provider: StorageProvider;
  readonly app: Awaited<ReturnType<typeof createServer>>;
  /** Stop the server and remove the data directory. */
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<ServerOptions> {
  /** Wrap the real local provider (e.g. to inject a fault); default: use it as is. */
  wrapProvider?: (provider: StorageProvider) => StorageProvider;
  /** Use this data directory (kept on close) instead of a fresh temporary one. */
  dir?: string;
}

/**
 * An in-process server over the real local backend on a fresh temporary folder,
 * listening on 127.0.0.1 on a free port, without authentication unless `auth` is given.
 */
export async function startServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { wrapProvider, dir: givenDir, ...serverOptions } = options;
  const dir = givenDir ?? (await tempDir('pyrs-data-'));
  const local = new LocalProvider({ root: dir, groupAccessible: false });
  const provider = wrapProvider ? wrapProvider(local) : local;
  const app = await createServer({ auth: { kind: 'none' }, ...serverOptions, provider });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    provider,
    app,
    async close() {
      await app.close();
      await provider.close?.();
      if (givenDir === undefined) await removeDir(dir);
    },
  };
}
