/** S3 failures as storage errors: the code core maps to an HTTP status, and a message without secrets. */
import { StorageError, StorageErrorCode } from '@pyrestserver/core';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const SPACE = new Set(['QuotaExceeded', 'QuotaExceededException', 'InsufficientStorage', 'StorageFull', 'XMinioStorageFull', 'ServiceQuotaExceeded']);
const AUTH = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'AllAccessDisabled', 'AccountProblem', 'CredentialsProviderError']);
/** Connection failures (no reply at all): worth retrying, then 503. */
export const NETWORK: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The S3 error name (`NoSuchKey`, `SlowDown`, ...) or network error code. */
export function s3Name(err: unknown): string {
  const e = err as SdkError | null;
  return String(e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error'));
}

export const s3Status = (err: unknown): number | undefined => (err as SdkError | null)?.$metadata?.httpStatusCode;

export function isNotFound(err: unknown): boolean {
  const name = s3Name(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload');
}

export const isPreconditionFailed = (err: unknown) => s3Status(err) === 412 || s3Name(err) === 'PreconditionFailed';
export const isInvalidRange = (err: unknown) => s3Status(err) === 416 || s3Name(err) === 'InvalidRange';
export const isAuthError = (err: unknown) => AUTH.has(s3Name(err)) || s3Status(err) === 401 || (s3Status(err) === 403 && !SPACE.has(s3Name(err)));
export const isAbort = (err: unknown) => s3Name(err) === 'AbortError';

/** A short description of the failure: the S3 error name and status, or the network error. Never a header or URL. */
export function describe(err: unknown): string {
  const name = s3Name(err);
  const status = s3Status(err);
  // A reply without a body (HEAD) has no S3 error code: the SDK calls it Unknown.
  const known = name !== 'Unknown' && name !== 'UnknownError';
  const detail = status !== undefined ? (known ? `${name} (HTTP ${status})` : `HTTP ${status}`) : name;
  const message = known ? (err as SdkError | null)?.message : undefined;
  // SDK messages are the store's <Message>; keep them short and free of anything signed.
  const safe = message && !/signature=|x-amz-|credential=/i.test(message) ? `: ${message.slice(0, 200)}` : '';
  return `${detail}${safe}`;
}

/** The storage error for a failed S3 call on `what` (an object key or an operation). */
export function storageError(err: unknown, what: string): StorageError {
  const name = s3Name(err);
  const status = s3Status(err);
  const text = `S3 ${what}: ${describe(err)}`;
  let code: StorageErrorCode = StorageErrorCode.INTERNAL;
  if (isNotFound(err)) code = StorageErrorCode.NOT_FOUND;
  else if (SPACE.has(name) || status === 507) code = StorageErrorCode.INSUFFICIENT_STORAGE;
  else if (isPreconditionFailed(err)) code = StorageErrorCode.ALREADY_EXISTS;
  else if (
    NETWORK.has(name) ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    name === 'SlowDown' ||
    name === 'ConditionalRequestConflict' ||
    status === 429 ||
    status === 409 ||
    (status !== undefined && status >= 500) ||
    (status === undefined && !isAuthError(err) && name !== 'AbortError')
  ) {
    code = StorageErrorCode.BACKEND_UNAVAILABLE;
  }
  return new StorageError(code, text, { cause: err });
}
