/**
 * The connections to the store: the hot requests (HEAD, GET, PUT, DELETE, ListObjectsV2)
 * through our own signed client (wire.ts); multipart uploads through the SDK's clients, one
 * for requests the SDK may retry, one (same connections) for streamed parts, which restic
 * retries. Credentials not given are the SDK's chain, shared by both.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Options } from './options.js';
import { Signer, type Credentials } from './signer.js';
import { S3Wire } from './wire.js';

export interface S3Clients {
  /** The hot requests. */
  readonly wire: S3Wire;
  /** Retries throttling, 5xx and dropped connections (max_retries times, with backoff). */
  readonly client: S3Client;
  /** Never retries: its bodies are streams read once. */
  readonly uploads: S3Client;
  /** `endpoint/bucket/prefix`, for messages (no credentials in it). */
  readonly display: string;
  destroy(): void;
}

const noop = (): void => undefined;

export function createClients(options: S3Options): S3Clients {
  // On Node 20 the SDK's clients print a notice to stderr, once per process, that SDK releases
  // from January 2027 on need Node 22: before every `serve`'s first log line, and over
  // `serve --stdio` into restic's own output. This package pins its SDK release (package.json),
  // which runs on Node 20, so the notice is not its users' concern; like the SDK's other
  // warnings (the logger below), it stays out of the console unless the variable is set already.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agentOptions = { keepAlive: true, maxSockets: options.max_connections };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  const requestHandler = new NodeHttpHandler({
    httpAgent,
    httpsAgent,
    connectionTimeout: options.connect_timeout,
    requestTimeout: options.request_timeout,
  });
  const credentials =
    options.access_key_id !== undefined && options.secret_access_key !== undefined
      ? {
          accessKeyId: options.access_key_id,
          secretAccessKey: options.secret_access_key,
          ...(options.session_token !== undefined ? { sessionToken: options.session_token } : {}),
        }
      : undefined;
  const base: S3ClientConfig = {
    region: options.region,
    // The SDK would print warnings to the console; failures reach our own log as errors.
    logger: { debug: noop, info: noop, warn: noop, error: noop },
    requestHandler,
    forcePathStyle: options.force_path_style ?? options.endpoint !== undefined,
    // Ceph RGW 16.2 and other stores refuse the SDK's default streamed checksums (411) and
    // do not send the response checksums it would otherwise check.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
  const client = new S3Client({ ...base, maxAttempts: options.max_retries + 1, retryMode: 'standard' });
  const uploads = new S3Client({ ...base, maxAttempts: 1 });
  const endpoint = options.endpoint ?? `https://s3.${options.region}.amazonaws.com`;
  const fixed: Credentials | undefined = credentials;
  const resolve = client.config.credentials;
  const signer = new Signer(options.region, fixed ? async () => fixed : async () => resolve());
  const wire = new S3Wire(
    {
      endpoint,
      bucket: options.bucket,
      // Virtual-hosted style needs a bucket that is a DNS label (no dots, under TLS).
      pathStyle: (options.force_path_style ?? options.endpoint !== undefined) || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(options.bucket),
      maxConnections: options.max_connections,
      connectTimeout: options.connect_timeout,
      requestTimeout: options.request_timeout,
      maxRetries: options.max_retries,
    },
    signer,
  );
  return {
    wire,
    client,
    uploads,
    display: `${endpoint.replace(/\/+$/, '')}/${options.bucket}${options.prefix ? `/${options.prefix.replace(/^\/+|\/+$/g, '')}` : ''}`,
    destroy() {
      wire.destroy();
      client.destroy();
      uploads.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
