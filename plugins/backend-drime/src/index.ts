/**
 * pyrestserver-backend-drime: restic repositories in Drime Cloud.
 * `pyrestserver serve --backend drime` with `DRIME_API_KEY` (and optionally
 * `DRIME_WORKSPACE_ID`, `DRIME_API_URL`, `--root-folder`).
 */
import { ConfigError, ConfigErrorCode, defineBackend, hasCode, StorageErrorCode, type BackendContext } from '@pyrestserver/core';
import { DrimeApi } from './api.js';
import { DrimeAuthError, DrimeHttp } from './http.js';
import { defaultOptions, optionsSchema, type DrimeOptions } from './options.js';
import { DrimeProvider } from './provider.js';
import { defaultSleep, type RetryPolicy } from './retry.js';
import { Uploader } from './uploader.js';

export { optionsSchema, defaultOptions, type DrimeOptions } from './options.js';
export { DrimeProvider } from './provider.js';

/** Test seams: how retries wait (tests record delays instead of sleeping, on a clock of their own). */
export interface DrimeInternals {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** A ready provider: options checked, API key verified with `GET /cli/loggedUser`. */
export async function createDrimeProvider(
  input: Partial<DrimeOptions> & Pick<DrimeOptions, 'api_key'>,
  context: Pick<BackendContext, 'logger'>,
  internals: DrimeInternals = {},
): Promise<DrimeProvider> {
  const options: DrimeOptions = { ...defaultOptions, ...input };
  const retry: RetryPolicy = {
    maxRetries: options.max_retries,
    baseDelay: options.retry_delay,
    maxDelay: options.retry_max_delay,
    maxRetryAfter: Math.max(options.retry_max_delay, 60_000),
    sleep: internals.sleep ?? defaultSleep,
    random: internals.random ?? Math.random,
    now: internals.now ?? Date.now,
  };
  const apiUrl = checkedUrl(options.api_url);
  if (apiUrl.protocol === 'http:' && !isLoopback(apiUrl.hostname)) {
    context.logger.warn(`Drime API URL ${apiUrl.origin} is not https: the API key would travel unencrypted`);
  }
  const http = new DrimeHttp({
    apiUrl: apiUrl.toString(),
    apiKey: options.api_key,
    maxConnections: options.max_connections,
    connectTimeout: options.connect_timeout,
    requestTimeout: options.request_timeout,
    retry,
    logger: context.logger,
  });
  const api = new DrimeApi(http, {
    workspaceId: options.workspace_id,
    pageSize: options.page_size,
    deleteForever: options.delete_forever,
  });
  try {
    await checkKey(api);
  } catch (err) {
    await http.close();
    throw err;
  }
  const uploader = new Uploader(
    api,
    { multipartThreshold: options.multipart_threshold, partSize: options.part_size, bufferLimit: options.upload_buffer_size },
    context.logger,
  );
  const rootFolder = checkedRootFolder(options.root_folder);
  context.logger.info(`Drime backend ready: ${http.displayUrl}, workspace ${options.workspace_id}, repositories under /${rootFolder}`);
  return new DrimeProvider({
    api,
    uploader,
    logger: context.logger,
    rootFolder,
    cacheTtl: options.cache_ttl * 1000,
    now: retry.now,
  });
}

async function checkKey(api: DrimeApi): Promise<void> {
  const where = api.http.displayUrl;
  let user: Record<string, unknown> | null;
  try {
    user = await api.loggedUser();
  } catch (err) {
    if (err instanceof DrimeAuthError) throw badKey(where);
    const reason = (err as Error).message.replace(/^Drime API unavailable: /, '');
    if (hasCode(err, StorageErrorCode.BACKEND_UNAVAILABLE)) {
      throw new ConfigError(ConfigErrorCode.BACKEND_START, `cannot reach the Drime API at ${where}: ${reason}`, { cause: err });
    }
    throw new ConfigError(ConfigErrorCode.BACKEND_START, `the Drime API at ${where} did not answer as expected: ${reason}`, { cause: err });
  }
  if (!user) throw badKey(where);
}

const badKey = (where: string) =>
  new ConfigError(ConfigErrorCode.BACKEND_START, `Drime rejected the API key (${where}/cli/loggedUser knows no user for it)`, {
    hint: 'check api_key / DRIME_API_KEY (create a key in Drime under Settings > Developers)',
  });

function checkedUrl(url: string): URL {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed;
  } catch {
    // fall through
  }
  throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, 'api_url must be an http(s) URL');
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

function checkedRootFolder(path: string | undefined): string {
  const parts = (path ?? '').split('/').filter((part) => part !== '');
  if (parts.some((part) => part === '.' || part === '..' || part.includes('\\') || part.includes('\0'))) {
    throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `root_folder: invalid path ${JSON.stringify(path)}`);
  }
  return parts.join('/');
}

export default defineBackend<DrimeOptions>({
  type: 'drime',
  description: 'Drime Cloud (drime.cloud), same layout as local',
  optionsSchema,
  create: (options, context) => createDrimeProvider(options, context),
});
