import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureVersion } from 'node:tls';
import { ConfigError, ConfigErrorCode } from './errors.js';
import type { TlsOptions } from './server.js';

const VERSIONS: Record<string, SecureVersion> = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

/** `--tls-min-ver` (`1.2` or `1.3`, as rest-server takes it; `TLSv1.3` works too) as Node's name. */
export function tlsMinVersion(value: string | undefined): SecureVersion {
  if (value === undefined || value === '') return 'TLSv1.2';
  const version = VERSIONS[value.replace(/^TLSv/i, '')];
  if (!version) {
    throw new ConfigError(ConfigErrorCode.TLS_SETUP, `--tls-min-ver: unsupported TLS version ${JSON.stringify(value)}`, {
      hint: 'Use 1.2 or 1.3.',
    });
  }
  return version;
}

async function readPem(path: string, what: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError(
      ConfigErrorCode.TLS_SETUP,
      missing ? `TLS ${what} file ${path} does not exist` : `cannot read TLS ${what} file ${path}: ${(err as Error).message}`,
      {
        hint: `Pass ${flag} PATH, or create a self-signed pair with: openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=HOSTNAME -keyout private_key -out public_key`,
        cause: err,
      },
    );
  }
}

/**
 * The `https` options for `--tls`: certificate and key read from their files and
 * checked to form a usable pair, so that a bad setup fails at start with the file named.
 */
export async function tlsServerOptions(tls: TlsOptions): Promise<{ cert: Buffer; key: Buffer; minVersion: SecureVersion }> {
  const minVersion = tlsMinVersion(tls.minVersion);
  const [cert, key] = await Promise.all([
    readPem(tls.cert, 'certificate', '--tls-cert'),
    readPem(tls.key, 'key', '--tls-key'),
  ]);
  try {
    createSecureContext({ cert, key, minVersion });
  } catch (err) {
    throw new ConfigError(
      ConfigErrorCode.TLS_SETUP,
      `cannot use TLS certificate ${tls.cert} with key ${tls.key}: ${(err as Error).message}`,
      { hint: 'Both must be PEM files, and the key must belong to the certificate.', cause: err },
    );
  }
  return { cert, key, minVersion };
}
