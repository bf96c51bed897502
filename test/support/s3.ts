/** `pyrestserver serve --backend s3` over a fresh bucket of the real RGW, and restic's own s3 backend on the same bucket. */
import assert from 'node:assert/strict';
import { allKeys, bucketBytes, openUploads, s3Env, tempBucket, type S3Env } from '../../plugins/backend-s3/test/support/rgw.js';
import { ensureBuilt, startCli, type CliServer, type CliServerOptions } from './cli.js';
import type { ResticOptions, ResticResult } from './restic.js';

export { allKeys, bucketBytes, openUploads, s3Env, tempBucket, type S3Env };

export function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

/** The server's environment for a bucket: credentials through the standard variables, never on the command line. */
export const serverEnv = (env: S3Env, bucket: string, prefix = ''): NodeJS.ProcessEnv => ({
  S3_BUCKET: bucket,
  S3_PREFIX: prefix,
  S3_ENDPOINT: env.endpoint,
  AWS_REGION: env.region,
  AWS_ACCESS_KEY_ID: env.accessKeyId,
  AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
});

export async function startS3Server(env: S3Env, bucket: string, prefix = '', options: CliServerOptions = {}): Promise<CliServer> {
  ensureBuilt();
  return startCli({
    path: false,
    ...options,
    args: ['--backend', 's3', ...(options.args ?? [])],
    env: { ...serverEnv(env, bucket, prefix), ...options.env },
  });
}

/** restic's own S3 backend on `<bucket>/<key prefix>`. */
export const resticS3 = (env: S3Env, bucket: string, keyPrefix: string): ResticOptions => ({
  repo: `s3:${env.endpoint}/${bucket}${keyPrefix ? `/${keyPrefix}` : ''}`,
  env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_DEFAULT_REGION: env.region },
  timeoutMs: 180_000,
});
