/**
 * pyrestserver-backend-s3: restic repositories in any S3-compatible bucket (AWS S3,
 * Ceph RGW, MinIO, Garage, Wasabi, ...), in restic's own S3 layout.
 * `pyrestserver serve --backend s3 --bucket NAME [--endpoint URL] [--prefix P]`, with
 * credentials from `--access-key-id`/`AWS_ACCESS_KEY_ID` etc. or the AWS SDK's chain.
 * The AWS SDK is loaded only when a provider is created, so `pyrestserver backends` and
 * `serve --help` stay quick.
 */
import { defineBackend, type BackendContext } from '@pyrestserver/core';
import { optionsSchema, type S3Options } from './options.js';
import type { S3Provider } from './provider.js';

export { optionsSchema, defaultOptions, type S3Options } from './options.js';
export type { S3Provider } from './provider.js';

/** A ready provider: options checked, bucket and credentials verified with one ListObjectsV2. */
export async function createS3Provider(
  input: Partial<S3Options> & Pick<S3Options, 'bucket'>,
  context: Pick<BackendContext, 'logger'>,
): Promise<S3Provider> {
  const { createS3Provider: create } = await import('./create.js');
  return create(input, context);
}

export default defineBackend<S3Options>({
  type: 's3',
  description: "S3-compatible object storage (AWS S3, Ceph RGW, MinIO, ...), restic's own S3 layout",
  optionsSchema,
  create: (options, context) => createS3Provider(options, context),
});
