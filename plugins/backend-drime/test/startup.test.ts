/** The key check before the server listens, and secrets kept out of errors and logs. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ConfigErrorCode } from '@pyrestserver/core';
import plugin, { createDrimeProvider } from '../src/index.js';
import { randomBlob, readAll, write } from './support/blobs.js';
import { DrimeEmulator } from './support/emulator.js';
import { capturingLogger, startHarness } from './support/setup.js';

const SECRET = '42|TopSecretKeyThatMustNeverBeLogged';

/** A BACKEND_START error that does not contain the key. */
const startError = (pattern: RegExp) => (err: unknown) => {
  const e = err as Error & { code?: string; hint?: string };
  assert.equal(e.code, ConfigErrorCode.BACKEND_START, `${e.code}: ${e.message}`);
  assert.match(e.message, pattern);
  assert.ok(!`${e.message} ${e.hint ?? ''} ${e.stack}`.includes(SECRET), 'key in the error');
  return true;
};

describe('start-up key check', () => {
  for (const badKeyReply of ['null-user', 'json-401', 'html'] as const) {
    it(`a bad key is refused before the server listens (loggedUser answers ${badKeyReply})`, async () => {
      const emulator = await DrimeEmulator.start({ badKeyReply });
      const logs: string[] = [];
      try {
        await assert.rejects(
          createDrimeProvider({ api_key: SECRET, api_url: emulator.url }, { logger: capturingLogger(logs) }),
          startError(/rejected the API key/),
        );
        assert.equal(emulator.counts.loggedUser, 1, 'an auth error is not retried');
        assert.ok(!logs.join('').includes(SECRET), 'key in the logs');
      } finally {
        await emulator.close();
      }
    });
  }

  it('an unreachable API is a clear start-up error', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const delays: number[] = [];
    await assert.rejects(
      createDrimeProvider(
        { api_key: SECRET, api_url: `http://127.0.0.1:${port}/api/v1`, max_retries: 2 },
        { logger: capturingLogger([]) },
        { sleep: async (ms) => void delays.push(ms) },
      ),
      startError(new RegExp(`cannot reach the Drime API at http://127.0.0.1:${port}/api/v1.*ECONNREFUSED`)),
    );
    assert.equal(delays.length, 2, 'retried before giving up');
  });

  it('the plugin descriptor checks the key too, and its schema marks the key secret', async () => {
    const emulator = await DrimeEmulator.start();
    try {
      await assert.rejects(
        Promise.resolve(plugin.create({ api_key: 'wrong', api_url: emulator.url } as never, { logger: capturingLogger([]), groupAccessible: false })),
        startError(/rejected the API key/),
      );
      const provider = await plugin.create({ api_key: emulator.apiKey, api_url: emulator.url } as never, { logger: capturingLogger([]), groupAccessible: false });
      await provider.close?.();
      assert.equal(plugin.type, 'drime');
      assert.equal(plugin.optionsSchema.properties.api_key?.['x-secret'], true);
      assert.equal(plugin.optionsSchema.properties.api_key?.['x-env'], 'DRIME_API_KEY');
      assert.deepEqual(plugin.optionsSchema.required, ['api_key']);
    } finally {
      await emulator.close();
    }
  });
});

describe('secrets', () => {
  it('never appear in logs or errors, whatever goes wrong', async () => {
    const h = await startHarness({ emulator: { apiKey: SECRET, redirectDownloads: true }, provider: { max_retries: 3, upload_buffer_size: 1000 } });
    const errors: string[] = [];
    const keep = (err: unknown) => errors.push(`${(err as Error).message} ${(err as Error).stack} ${String((err as Error).cause)}`);
    try {
      h.emulator.chaos({ rate: 0.4, seed: 3 });
      for (let i = 0; i < 40; i++) {
        const blob = randomBlob(i % 2 ? 500 : 5000);
        await h.provider.createRepository('r').catch(keep);
        await write(h.provider, blob.ref('r'), blob.data).catch(keep);
        await readAll(h.provider, blob.ref('r')).catch(keep);
        await h.provider.delete(blob.ref('r')).catch(keep);
      }
      h.emulator.clearFaults();
      h.emulator.inject('list', { kind: 'status', status: 401 });
      await h.provider.repositoryExists('elsewhere').catch(keep);
    } finally {
      await h.close();
    }
    assert.ok(errors.length > 0, 'nothing failed: the test proves nothing');
    assert.ok(h.logs.length > 0, 'nothing logged: the test proves nothing');
    const everything = errors.join('\n') + h.logs.join('');
    assert.ok(!everything.includes(SECRET), 'the API key leaked');
    assert.ok(!everything.includes(SECRET.split('|')[1]!), 'the API key (token part) leaked');
    assert.ok(!/X-Amz-Signature/.test(everything), 'a presigned URL leaked');
  });
});
