/** The S3 backend's options: their JSON Schema (for core) and their type. */
import type { BackendOptionsSchema } from '@pyrestserver/core';

const MiB = 1024 * 1024;

export interface S3Options {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  force_path_style?: boolean;
  storage_class?: string;
  part_size: number;
  max_connections: number;
  connect_timeout: number;
  request_timeout: number;
  max_retries: number;
  conditional_writes: boolean;
  stat_cache_ttl: number;
}

export const optionsSchema: BackendOptionsSchema = {
  type: 'object',
  properties: {
    bucket: { type: 'string', minLength: 1, description: 'bucket holding the repositories (must exist)', 'x-env': 'S3_BUCKET' },
    prefix: {
      type: 'string',
      default: '',
      description: 'key prefix under which repositories live (restic -r s3:ENDPOINT/BUCKET/PREFIX/REPO opens the same repository)',
      'x-env': 'S3_PREFIX',
    },
    endpoint: {
      type: 'string',
      pattern: '^https?://',
      description: 'S3 endpoint URL for stores other than AWS (Ceph RGW, MinIO, ...); default: AWS for the region',
      'x-env': 'S3_ENDPOINT',
    },
    region: { type: 'string', minLength: 1, default: 'us-east-1', description: 'region (signing region for other stores)', 'x-env': 'AWS_REGION' },
    access_key_id: {
      type: 'string',
      minLength: 1,
      description: 'access key id; default: the AWS SDK chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance role, ...)',
      'x-env': 'AWS_ACCESS_KEY_ID',
    },
    secret_access_key: {
      type: 'string',
      minLength: 1,
      description: 'secret access key (with access_key_id)',
      'x-secret': true,
      'x-env': 'AWS_SECRET_ACCESS_KEY',
    },
    session_token: { type: 'string', minLength: 1, description: 'session token of temporary credentials', 'x-secret': true, 'x-env': 'AWS_SESSION_TOKEN' },
    force_path_style: {
      type: 'boolean',
      description: 'path-style URLs (ENDPOINT/BUCKET/KEY) instead of BUCKET.ENDPOINT; default: on when endpoint is given',
    },
    storage_class: { type: 'string', minLength: 1, description: 'storage class of new objects (e.g. STANDARD_IA); default: the bucket default' },
    part_size: {
      type: 'integer',
      minimum: 5 * MiB,
      maximum: 5 * 1024 * MiB,
      default: 64 * MiB,
      description: 'bytes up to which an upload is one PUT; larger uploads are multipart in parts of this size (streamed, not buffered)',
    },
    max_connections: { type: 'integer', minimum: 1, maximum: 1024, default: 32, description: 'keep-alive connections to the store; further requests queue' },
    connect_timeout: { type: 'integer', minimum: 100, default: 10_000, description: 'ms to wait for a connection' },
    request_timeout: { type: 'integer', minimum: 1000, default: 120_000, description: 'longest silence (ms) on a connection, waiting for a reply or within a transfer' },
    max_retries: {
      type: 'integer',
      minimum: 0,
      maximum: 20,
      default: 4,
      description: 'retries (with backoff) of a request after throttling (503 SlowDown, 429), 5xx or a dropped connection, before answering 503; streamed uploads (over 64 KiB) are left to restic to retry',
    },
    conditional_writes: {
      type: 'boolean',
      default: true,
      description: "send If-None-Match: * on uploads so the store refuses to overwrite (AWS, Ceph RGW, MinIO); off: a HEAD before each upload instead",
    },
    stat_cache_ttl: {
      type: 'integer',
      minimum: 0,
      default: 300_000,
      description:
        'ms for which a size seen (written, listed, read) answers HEAD without asking the store; restic never changes a file, so only a delete by another instance can leave it stale for that long (docs/scaling.md); 0: always ask',
    },
  },
  required: ['bucket'],
  additionalProperties: false,
};

/** Defaults of every option that has one (for callers that build options by hand). */
export const defaultOptions = Object.fromEntries(
  Object.entries(optionsSchema.properties)
    .filter(([, schema]) => schema.default !== undefined)
    .map(([key, schema]) => [key, schema.default]),
) as Omit<S3Options, 'bucket' | 'endpoint' | 'access_key_id' | 'secret_access_key' | 'session_token' | 'force_path_style' | 'storage_class'>;
