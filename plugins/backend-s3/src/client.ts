/** The SDK clients: one for requests the SDK may retry, one (same connections) for streamed uploads, which restic retries. */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Options } from './options.js';

export interface S3Clients {
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
  return {
    client,
    uploads,
    display: `${endpoint.replace(/\/+$/, '')}/${options.bucket}${options.prefix ? `/${options.prefix.replace(/^\/+|\/+$/g, '')}` : ''}`,
    destroy() {
      client.destroy();
      uploads.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
