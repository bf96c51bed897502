/**
 * Every error pyrestserver raises, in one place, each with a stable `code`.
 *
 * Storage providers signal failures by throwing an error whose `code` is one of
 * `StorageErrorCode`. Core maps codes to HTTP status by string only (duck typing),
 * so a plugin compiled against another copy of `@pyrestserver/core` still works.
 * Raw Node errno codes (ENOENT, EEXIST, ENOSPC, ...) are understood as well.
 */

export const StorageErrorCode = {
  /** The repository or file does not exist. HTTP 404. */
  NOT_FOUND: 'PYRS_NOT_FOUND',
  /** The file exists and may not be overwritten. HTTP 403. */
  ALREADY_EXISTS: 'PYRS_ALREADY_EXISTS',
  /** The store is full (disk full, quota). HTTP 507. */
  INSUFFICIENT_STORAGE: 'PYRS_INSUFFICIENT_STORAGE',
  /** The backend cannot be reached right now; restic retries. HTTP 503. */
  BACKEND_UNAVAILABLE: 'PYRS_BACKEND_UNAVAILABLE',
  /** The request body ended early or carried more bytes than announced. HTTP 400. */
  INCOMPLETE_BODY: 'PYRS_INCOMPLETE_BODY',
  /** The upload's SHA-256 is not its name. HTTP 400. */
  DIGEST_MISMATCH: 'PYRS_DIGEST_MISMATCH',
  /** Input the backend cannot store (bad name, bad path). HTTP 400. */
  INVALID_INPUT: 'PYRS_INVALID_INPUT',
  /** The operation is refused by a policy (append-only, private repos). HTTP 403. */
  FORBIDDEN: 'PYRS_FORBIDDEN',
  /** Any other backend failure. HTTP 500. */
  INTERNAL: 'PYRS_INTERNAL',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

const HTTP_STATUS: Record<StorageErrorCode, number> = {
  [StorageErrorCode.NOT_FOUND]: 404,
  [StorageErrorCode.ALREADY_EXISTS]: 403,
  [StorageErrorCode.INSUFFICIENT_STORAGE]: 507,
  [StorageErrorCode.BACKEND_UNAVAILABLE]: 503,
  [StorageErrorCode.INCOMPLETE_BODY]: 400,
  [StorageErrorCode.DIGEST_MISMATCH]: 400,
  [StorageErrorCode.INVALID_INPUT]: 400,
  [StorageErrorCode.FORBIDDEN]: 403,
  [StorageErrorCode.INTERNAL]: 500,
};

/** Node errno codes, for providers that let filesystem or socket errors through. */
const ERRNO: Record<string, StorageErrorCode> = {
  ENOENT: StorageErrorCode.NOT_FOUND,
  ENOTDIR: StorageErrorCode.NOT_FOUND,
  EEXIST: StorageErrorCode.ALREADY_EXISTS,
  ENOSPC: StorageErrorCode.INSUFFICIENT_STORAGE,
  EDQUOT: StorageErrorCode.INSUFFICIENT_STORAGE,
  ECONNREFUSED: StorageErrorCode.BACKEND_UNAVAILABLE,
  ECONNRESET: StorageErrorCode.BACKEND_UNAVAILABLE,
  ETIMEDOUT: StorageErrorCode.BACKEND_UNAVAILABLE,
  EAI_AGAIN: StorageErrorCode.BACKEND_UNAVAILABLE,
};

/** The error a storage provider throws. `code` is what counts; the class is a convenience. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

export const notFound = (what: string) => new StorageError(StorageErrorCode.NOT_FOUND, `${what} not found`);
export const alreadyExists = (what: string) => new StorageError(StorageErrorCode.ALREADY_EXISTS, `${what} already exists`);

const KNOWN = new Set<string>(Object.values(StorageErrorCode));

/** The storage error code any thrown value stands for (INTERNAL when unknown). */
export function storageCodeOf(err: unknown): StorageErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return StorageErrorCode.INTERNAL;
  if (KNOWN.has(code)) return code as StorageErrorCode;
  return ERRNO[code] ?? StorageErrorCode.INTERNAL;
}

/** HTTP status for any error a provider or policy throws (500 when unknown). */
export const httpStatusOf = (err: unknown): number => HTTP_STATUS[storageCodeOf(err)];

/** True when `err` stands for the given storage error code (errno equivalents included). */
export const hasCode = (err: unknown, code: StorageErrorCode): boolean => storageCodeOf(err) === code;

/**
 * Errors of the program itself (configuration, plugins, CLI input). They are
 * shown to the user as `Error [CODE]: message` and make the CLI exit non-zero.
 */
export const ConfigErrorCode = {
  PLUGIN_NOT_FOUND: 'PYRS_PLUGIN_NOT_FOUND',
  PLUGIN_DEPENDENCY_MISSING: 'PYRS_PLUGIN_DEPENDENCY_MISSING',
  PLUGIN_INVALID: 'PYRS_PLUGIN_INVALID',
  PLUGIN_API_VERSION: 'PYRS_PLUGIN_API_VERSION',
  PLUGIN_SCHEMA_INVALID: 'PYRS_PLUGIN_SCHEMA_INVALID',
  /** A plugin option is named like a core flag (`listen`, `tls`, ...): see RESERVED_OPTION_NAMES. */
  PLUGIN_OPTION_RESERVED: 'PYRS_PLUGIN_OPTION_RESERVED',
  OPTIONS_INVALID: 'PYRS_OPTIONS_INVALID',
  CONFIG_FILE_INVALID: 'PYRS_CONFIG_FILE_INVALID',
  BACKEND_CONFIG_NOT_FOUND: 'PYRS_BACKEND_CONFIG_NOT_FOUND',
  BACKEND_CONFIG_EXISTS: 'PYRS_BACKEND_CONFIG_EXISTS',
  USAGE: 'PYRS_USAGE',
  AUTH_SETUP: 'PYRS_AUTH_SETUP',
  TLS_SETUP: 'PYRS_TLS_SETUP',
  LISTEN: 'PYRS_LISTEN',
  BACKEND_START: 'PYRS_BACKEND_START',
} as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  /** A line the CLI prints after the message, e.g. an install command. */
  readonly hint?: string;
  constructor(code: ConfigErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'ConfigError';
    this.code = code;
    if (options?.hint) this.hint = options.hint;
  }
}
