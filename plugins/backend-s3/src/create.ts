/** The provider factory, loaded only when a server starts (it brings in the AWS SDK). */
import { ConfigError, ConfigErrorCode, type BackendContext } from '@pyrestserver/core';
import { createClients } from './client.js';
import { describe, isAuthError, s3Name, s3Status } from './errors.js';
import { Layout } from './layout.js';
import { defaultOptions, type S3Options } from './options.js';
import { S3Provider } from './provider.js';

/** A ready provider: options checked, bucket and credentials (and our signing) verified with one ListObjectsV2. */
export async function createS3Provider(
  input: Partial<S3Options> & Pick<S3Options, 'bucket'>,
  context: Pick<BackendContext, 'logger'>,
): Promise<S3Provider> {
  const options: S3Options = { ...defaultOptions, ...input };
  if ((options.access_key_id === undefined) !== (options.secret_access_key === undefined)) {
    throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, 'access_key_id and secret_access_key go together: give both, or neither to use the AWS SDK credential chain');
  }
  if (options.endpoint !== undefined) {
    const url = new URL(options.endpoint);
    if (url.protocol === 'http:' && !/^(localhost|127\.|\[::1\])/.test(url.hostname)) {
      context.logger.warn(`S3 endpoint ${url.origin} is not https: requests are signed but data travels unencrypted`);
    }
  }
  const clients = createClients(options);
  const layout = new Layout(options.prefix);
  try {
    await clients.wire.list(layout.base, undefined, undefined, 1);
  } catch (err) {
    clients.destroy();
    throw startError(err, options, clients.display);
  }
  context.logger.info(`S3 backend ready: ${clients.display}`);
  return new S3Provider({
    clients,
    bucket: options.bucket,
    prefix: options.prefix,
    partSize: options.part_size,
    conditionalWrites: options.conditional_writes,
    storageClass: options.storage_class,
    statCacheTtl: options.stat_cache_ttl,
    logger: context.logger,
  });
}

function startError(err: unknown, options: S3Options, where: string): ConfigError {
  const name = s3Name(err);
  const status = s3Status(err);
  const start = (message: string, hint?: string) =>
    new ConfigError(ConfigErrorCode.BACKEND_START, message, { cause: err, ...(hint ? { hint } : {}) });
  if (name === 'NoSuchBucket') {
    return start(`the bucket ${options.bucket} does not exist at ${where}`, 'create it first (aws s3 mb, mc mb, radosgw-admin), or check bucket / S3_BUCKET and endpoint');
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(String((err as Error).message))) {
    return start('no S3 credentials: give access_key_id and secret_access_key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or configure an AWS profile or role');
  }
  if (isAuthError(err)) {
    return start(`S3 refused the credentials for ${where}: ${describe(err)}`, 'check access_key_id / secret_access_key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), the region, and that the key may list the bucket');
  }
  if (status === undefined) return start(`cannot reach S3 at ${where}: ${describe(err)}`);
  return start(`S3 at ${where} did not answer as expected: ${describe(err)}`);
}

