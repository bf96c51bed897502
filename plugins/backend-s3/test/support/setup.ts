/** Providers over a fresh bucket of the real RGW, with their logs captured. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createS3Provider, type S3Options, type S3Provider } from '../../src/index.js';
import { s3Env, tempBucket, type S3Env } from './rgw.js';

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

export const optionsFor = (env: S3Env, bucket: string, extra: Partial<S3Options> = {}): Partial<S3Options> & { bucket: string } => ({
  bucket,
  endpoint: env.endpoint,
  region: env.region,
  access_key_id: env.accessKeyId,
  secret_access_key: env.secretAccessKey,
  ...extra,
});

export async function startHarness(label: string, extra: Partial<S3Options> = {}, env: S3Env = s3Env()) {
  const store = await tempBucket(label, env);
  const logs: string[] = [];
  let provider: S3Provider;
  try {
    provider = await createS3Provider(optionsFor(env, store.bucket, extra), { logger: capturingLogger(logs) });
  } catch (err) {
    await store.destroy();
    throw err;
  }
  return {
    ...store,
    env,
    provider,
    logs,
    async close() {
      await provider.close();
      await store.destroy();
    },
  };
}
