/** The bucket and credential check before the server listens, and secrets kept out of errors and logs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigErrorCode } from '@pyrestserver/core';
import plugin, { createS3Provider } from '../src/index.js';
import { freePort, s3Env, tempBucket } from './support/rgw.js';
import { capturingLogger, optionsFor } from './support/setup.js';

const SECRET = 'Sup3rSecretKeyThatMustNeverBeLogged0000';

const startError = (pattern: RegExp, secret = SECRET) => (err: unknown) => {
  const e = err as Error & { code?: string; hint?: string };
  assert.equal(e.code, ConfigErrorCode.BACKEND_START, `${e.code}: ${e.message}`);
  assert.match(e.message, pattern);
  assert.ok(!`${e.message} ${e.hint ?? ''} ${e.stack}`.includes(secret), 'secret in the error');
  return true;
};

describe('start-up check', () => {
  it('a wrong secret key is refused before the server listens, without the key in the error or the logs', async () => {
    const env = s3Env();
    const store = await tempBucket('start');
    const logs: string[] = [];
    try {
      await assert.rejects(
        createS3Provider(optionsFor(env, store.bucket, { secret_access_key: SECRET }), { logger: capturingLogger(logs) }),
        startError(/S3 refused the credentials for .*SignatureDoesNotMatch/),
      );
      await assert.rejects(
        createS3Provider(optionsFor(env, store.bucket, { access_key_id: 'NOSUCHKEY0000000000', secret_access_key: SECRET }), { logger: capturingLogger(logs) }),
        startError(/S3 refused the credentials .*InvalidAccessKeyId/),
      );
      assert.ok(!logs.join('').includes(SECRET), 'secret in the logs');
    } finally {
      await store.destroy();
    }
  });

  it('a missing bucket is a clear start-up error naming the bucket', async () => {
    const env = s3Env();
    await assert.rejects(
      createS3Provider(optionsFor(env, 'pyrs-no-such-bucket-here'), { logger: capturingLogger([]) }),
      startError(/the bucket pyrs-no-such-bucket-here does not exist at http:\/\/127\.0\.0\.1:\d+\/pyrs-no-such-bucket-here/, env.secretAccessKey),
    );
  });

  it('an unreachable endpoint is a clear start-up error', async () => {
    const env = s3Env();
    const port = await freePort();
    await assert.rejects(
      createS3Provider(optionsFor(env, 'b', { endpoint: `http://127.0.0.1:${port}`, max_retries: 1 }), { logger: capturingLogger([]) }),
      startError(new RegExp(`cannot reach S3 at http://127.0.0.1:${port}/b: .*ECONNREFUSED`), env.secretAccessKey),
    );
  });

  it("the SDK prints nothing to the console when the clients are made (no Node-version notice on Node 20)", () => {
    // In a process of its own: the SDK prints its notice once per process.
    const script = `
      import { createClients } from ${JSON.stringify(new URL('../src/client.ts', import.meta.url).href)};
      import { defaultOptions } from ${JSON.stringify(new URL('../src/options.ts', import.meta.url).href)};
      const clients = createClients({ ...defaultOptions, bucket: 'b', endpoint: 'http://127.0.0.1:9', access_key_id: 'a', secret_access_key: 's' });
      await new Promise((resolve) => setTimeout(resolve, 100)); // process warnings are printed on a later tick
      clients.destroy();
      console.log('made');
    `;
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const result = spawnSync(process.execPath, ['--conditions=pyrestserver-source', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(result.stdout.trim(), 'made', result.stderr);
    assert.equal(result.stderr, '', `printed to stderr on Node ${process.version}`);
  });

  it('access_key_id without secret_access_key is an options error', async () => {
    await assert.rejects(
      createS3Provider({ bucket: 'b', access_key_id: 'x' }, { logger: capturingLogger([]) }),
      (err: Error & { code?: string }) => err.code === ConfigErrorCode.OPTIONS_INVALID && /go together/.test(err.message),
    );
  });

  it('the descriptor: type s3, secrets marked, bucket required, and create checks the store', async () => {
    const env = s3Env();
    assert.equal(plugin.type, 's3');
    assert.equal(plugin.optionsSchema.properties.secret_access_key?.['x-secret'], true);
    assert.equal(plugin.optionsSchema.properties.session_token?.['x-secret'], true);
    assert.deepEqual(plugin.optionsSchema.required, ['bucket']);
    const store = await tempBucket('desc');
    try {
      const provider = await plugin.create({ ...optionsFor(env, store.bucket) } as never, { logger: capturingLogger([]), groupAccessible: false });
      await provider.close?.();
    } finally {
      await store.destroy();
    }
  });
});
