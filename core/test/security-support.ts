/**
 * Shared by the auth, policies, metrics, access-log and listen tests: a real server
 * (createServer + the local backend) on a loopback port, temp dirs, htpasswd files
 * made by the real `htpasswd`, and a few request helpers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import local from '../../plugins/backend-local/src/index.js';
import { createServer, type ServerOptions, type StorageProvider } from '../src/index.js';

/**
 * The real local backend. Imported by path, not as `pyrestserver-backend-local`: a core
 * devDependency on it would make a workspace cycle (it depends on core) that breaks
 * `pnpm -r run build`. Its own `@pyrestserver/core` import resolves to this same core.
 */
export { local };

export const silentLogger = pino({ level: 'silent' });

export async function tempDir(t: TestContext, prefix = 'pyrs-sec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Add or update a user in an htpasswd file with the real `htpasswd` (-B, -s or -m). */
export function htpasswd(file: string, user: string, password: string, flag: '-B' | '-s' | '-m' | '-p' | '-d' = '-B', create = false): void {
  const args = ['-b', ...(create ? ['-c'] : []), flag, ...(flag === '-B' ? ['-C', '4'] : []), file, user, password];
  execFileSync('htpasswd', args, { stdio: 'ignore' });
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export interface TestServer {
  app: FastifyInstance;
  url: string;
  root: string;
  provider: StorageProvider;
}

/** createServer over the real local backend in a temp dir, listening on 127.0.0.1:0, closed after the test. */
export async function startServer(
  t: TestContext,
  options: Partial<ServerOptions> = {},
  root?: string,
): Promise<TestServer> {
  const dir = root ?? (await tempDir(t));
  const provider = await local.create({ path: dir }, { logger: silentLogger, groupAccessible: false });
  const app = await createServer({ provider, auth: { kind: 'none' }, ...options });
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, root: dir, provider };
}

/** A blob's URL path and body: 64-hex name = SHA-256 of its content. */
export function blob(content: string | Buffer) {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { name: sha256(body), body };
}

/**
 * Send only the headers of an upload (huge Content-Length, no body) and resolve with
 * the response the server sends without waiting for the body.
 */
export function headersOnlyUpload(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers } });
    req.once('response', (res) => {
      res.resume();
      resolve(res);
      req.destroy();
    });
    req.once('error', reject);
    req.flushHeaders();
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost made by the real `openssl`. */
export function selfSignedCert(dir: string, name = 'server'): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** POST an upload body (octet-stream, explicit length) as restic does. */
export const upload = (url: string, body: Uint8Array, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    body: new Uint8Array(body),
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
