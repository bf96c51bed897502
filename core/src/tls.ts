import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { ConfigError, ConfigErrorCode } from './errors.js';
import { watchFiles } from './file-watch.js';
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

/** The certificate, key and (with --tls-client-ca) client CA, read and checked as one usable context. */
async function secureContextOptions(tls: TlsOptions): Promise<SecureContextOptions & { minVersion: SecureVersion }> {
  const minVersion = tlsMinVersion(tls.minVersion);
  const [cert, key, ca] = await Promise.all([
    readPem(tls.cert, 'certificate', '--tls-cert'),
    readPem(tls.key, 'key', '--tls-key'),
    tls.clientCa === undefined ? undefined : readPem(tls.clientCa, 'client CA', '--tls-client-ca'),
  ]);
  const options = { cert, key, minVersion, ...(ca ? { ca } : {}) };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ConfigError(
      ConfigErrorCode.TLS_SETUP,
      `cannot use TLS certificate ${tls.cert} with key ${tls.key}${tls.clientCa ? ` and client CA ${tls.clientCa}` : ''}: ${(err as Error).message}`,
      { hint: 'All must be PEM files, and the key must belong to the certificate.', cause: err },
    );
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new ConfigError(ConfigErrorCode.TLS_SETUP, `--tls-client-ca ${tls.clientCa}: not a PEM certificate: ${(err as Error).message}`, { cause: err });
    }
  }
  return options;
}

/**
 * The `https` options for `--tls`: certificate and key read from their files and
 * checked to form a usable pair, so that a bad setup fails at start with the file named.
 * With `clientCa`, every client must present a certificate signed by it (the TLS
 * handshake fails otherwise); auth takes the user from its CN.
 */
export async function tlsServerOptions(tls: TlsOptions): Promise<SecureContextOptions & { minVersion: SecureVersion; requestCert?: boolean; rejectUnauthorized?: boolean }> {
  const options = await secureContextOptions(tls);
  return tls.clientCa === undefined ? options : { ...options, requestCert: true, rejectUnauthorized: true };
}

const expiryOf = (cert: Buffer | undefined) => {
  try {
    return cert ? new X509Certificate(cert).validTo : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Reload the certificate without a restart: on `app.reloadTls()` (SIGHUP) and when the files
 * change, including renewals that rename new files into place. Connections already open keep
 * the certificate they started with. A certificate and key written one after the other are
 * taken once both are in place: a mismatched pair is refused, and the second write retries.
 */
export function registerTlsReload(app: FastifyInstance, tls: TlsOptions, initial: SecureContextOptions): void {
  let current = initial;
  const same = (a: SecureContextOptions, b: SecureContextOptions) =>
    String(a.cert) === String(b.cert) && String(a.key) === String(b.key) && String(a.ca ?? '') === String(b.ca ?? '');
  let running: Promise<boolean> | undefined;
  const reload = async (): Promise<boolean> => {
    try {
      const next = await secureContextOptions(tls);
      if (same(next, current)) return true;
      (app.server as HttpsServer).setSecureContext(next);
      current = next;
      app.log.info({ cert: tls.cert, key: tls.key, ...(tls.clientCa ? { clientCa: tls.clientCa } : {}), validTo: expiryOf(next.cert as Buffer) }, 'reloaded TLS certificate');
      return true;
    } catch (err) {
      app.log.warn({ cert: tls.cert, key: tls.key, err: (err as Error).message }, 'could not reload TLS certificate; keeping the one in use');
      return false;
    }
  };
  // One reload at a time; a request during one waits for it, then reads the files again.
  app.decorate('reloadTls', () => (running = (running ?? Promise.resolve(true)).then(reload, reload)));
  let stop: (() => void) | undefined;
  app.addHook('onReady', async () => {
    const files = [tls.cert, tls.key, ...(tls.clientCa ? [tls.clientCa] : [])];
    stop = watchFiles(files, () => void app.reloadTls!(), (err, folder) =>
      app.log.warn({ folder, err: err.message }, 'cannot watch TLS files for changes; reload with SIGHUP'),
    );
  });
  app.addHook('onClose', async () => stop?.());
}
