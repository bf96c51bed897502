/** `--max-size` over Drime: core's quota counts the store through repositories() at start. */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer } from '@pyrestserver/core';
import { createDrimeProvider, type DrimeProvider } from '../src/index.js';
import { randomBlob, write } from './support/blobs.js';
import { DrimeEmulator } from './support/emulator.js';
import { capturingLogger } from './support/setup.js';

const MAX_SIZE = 100_000;

describe('--max-size over Drime', () => {
  let emulator: DrimeEmulator;
  let provider: DrimeProvider;
  let app: Awaited<ReturnType<typeof createServer>>;
  let port: number;
  /** Bytes the store holds before the server starts. */
  let stored = 0;

  const connect = () => createDrimeProvider({ api_key: emulator.apiKey, api_url: emulator.url }, { logger: capturingLogger([]) });

  before(async () => {
    emulator = await DrimeEmulator.start({ pageSize: 7 });
    // An earlier run left two repositories, one of them three levels down.
    const earlier = await connect();
    try {
      for (const repo of ['q', 'team/x/y']) {
        await earlier.createRepository(repo);
        const files = [
          { ref: { repo, type: 'config', name: 'config' } as const, data: Buffer.from('config of ' + repo) },
          ...[20_000, 10_000].map((size) => randomBlob(size)).map((b) => ({ ref: b.ref(repo), data: b.data })),
          ...[300].map((size) => randomBlob(size)).map((b) => ({ ref: b.ref(repo, 'snapshots'), data: b.data })),
        ];
        for (const file of files) {
          await write(earlier, file.ref, file.data);
          stored += file.data.length;
        }
      }
    } finally {
      await earlier.close();
    }
    provider = await connect();
    app = await createServer({ provider, auth: { kind: 'none' }, maxSize: MAX_SIZE });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });

  after(async () => {
    await app?.close();
    await provider?.close();
    await emulator?.close();
  });

  it('counts what the store holds at start: an upload one byte over the rest is 507 before its body is sent', async () => {
    const free = MAX_SIZE - stored;
    emulator.resetCounts();
    assert.equal(await statusBeforeBody(port, `POST /q/data/${randomBlob(1).name}`, free + 1), 507);
    assert.equal(emulator.counts.upload + emulator.counts.multipartCreate, 0, 'nothing was sent to Drime');
  });

  it('an upload that fits exactly is stored; then the store is full', async () => {
    const blob = randomBlob(MAX_SIZE - stored);
    const reply = await fetch(`http://127.0.0.1:${port}/team/x/y/data/${blob.name}`, { method: 'POST', body: new Uint8Array(blob.data) });
    assert.equal(reply.status, 200, await reply.text());
    assert.equal(emulator.find(`team/x/y/data/${blob.name.slice(0, 2)}/${blob.name}`).length, 1);
    assert.equal(await statusBeforeBody(port, `POST /q/data/${randomBlob(1).name}`, 1), 507);
  });
});

/** How long a reply may take before the request counts as waiting for its body. */
const NO_REPLY_MS = 10_000;

/** The status of the reply to a request whose head announces `length` body bytes, none of which are sent. */
function statusBeforeBody(port: number, requestLine: string, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const waiting = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${NO_REPLY_MS} ms: the server waits for the body`));
    }, NO_REPLY_MS);
    socket.once('error', reject);
    socket.once('data', (chunk) => {
      clearTimeout(waiting);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'));
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected reply ${chunk.toString('latin1').slice(0, 100)}`));
    });
    socket.write(`${requestLine} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`);
  });
}
