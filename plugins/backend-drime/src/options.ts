/** The Drime backend's options: their JSON Schema (for core) and their type. */
import type { BackendOptionsSchema } from '@pyrestserver/core';

const MiB = 1024 * 1024;

export interface DrimeOptions {
  api_key: string;
  workspace_id: number;
  api_url: string;
  root_folder?: string;
  delete_forever: boolean;
  request_timeout: number;
  connect_timeout: number;
  max_connections: number;
  max_retries: number;
  retry_delay: number;
  retry_max_delay: number;
  multipart_threshold: number;
  part_size: number;
  upload_buffer_size: number;
  cache_ttl: number;
  page_size: number;
}

export const DEFAULT_API_URL = 'https://app.drime.cloud/api/v1';

export const optionsSchema: BackendOptionsSchema = {
  type: 'object',
  properties: {
    api_key: {
      type: 'string',
      minLength: 1,
      description: 'Drime API key (Settings > Developers)',
      'x-secret': true,
      'x-env': 'DRIME_API_KEY',
    },
    workspace_id: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'workspace id (0: personal workspace)',
      'x-env': 'DRIME_WORKSPACE_ID',
    },
    api_url: {
      type: 'string',
      pattern: '^https?://',
      default: DEFAULT_API_URL,
      description: 'Drime API base URL',
      'x-env': 'DRIME_API_URL',
    },
    root_folder: {
      type: 'string',
      description: 'folder (path from the workspace root) under which repositories live; default: the workspace root',
    },
    delete_forever: {
      type: 'boolean',
      default: true,
      description: 'delete files for good instead of moving them to the trash (so that restic prune frees space)',
    },
    request_timeout: {
      type: 'integer',
      minimum: 1000,
      default: 60_000,
      description: 'ms to wait for a reply to start, and longest pause within a transfer',
    },
    connect_timeout: { type: 'integer', minimum: 100, default: 10_000, description: 'ms to wait for a connection' },
    max_connections: {
      type: 'integer',
      minimum: 1,
      maximum: 256,
      default: 8,
      description: 'keep-alive connections to Drime (per host); further requests queue',
    },
    max_retries: {
      type: 'integer',
      minimum: 0,
      maximum: 20,
      default: 5,
      description: 'retries of a call after 429, 5xx or a dropped connection before answering 503',
    },
    retry_delay: { type: 'integer', minimum: 0, default: 500, description: 'ms before the first retry; doubles each time (with jitter)' },
    retry_max_delay: { type: 'integer', minimum: 0, default: 30_000, description: 'longest computed wait between retries (ms); a Retry-After is honoured up to the larger of this and 60 s' },
    multipart_threshold: {
      type: 'integer',
      minimum: 5 * MiB,
      maximum: 30 * MiB,
      default: 30 * MiB,
      description: 'bytes above which uploads use the S3 multipart flow',
    },
    part_size: {
      type: 'integer',
      minimum: 5 * MiB,
      maximum: 100 * MiB,
      default: 25 * MiB,
      description: 'bytes per multipart part (streamed, not buffered)',
    },
    upload_buffer_size: {
      type: 'integer',
      minimum: 0,
      maximum: 8 * MiB,
      default: MiB,
      description: 'uploads up to this many bytes are read into memory first so that a failed attempt can be retried',
    },
    cache_ttl: {
      type: 'integer',
      minimum: 0,
      default: 300,
      description: 'seconds a cached folder listing is trusted (0: list again for every lookup)',
    },
    page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 1000, description: 'entries asked per listing page' },
  },
  required: ['api_key'],
  additionalProperties: false,
};

/** Defaults of every option that has one (for callers that build options by hand). */
export const defaultOptions = Object.fromEntries(
  Object.entries(optionsSchema.properties)
    .filter(([, schema]) => schema.default !== undefined)
    .map(([key, schema]) => [key, schema.default]),
) as Omit<DrimeOptions, 'api_key' | 'root_folder'>;
