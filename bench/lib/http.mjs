// A minimal keep-alive HTTP client for a restic REST repository URL.
import http from 'node:http';
import https from 'node:https';

/**
 * A client for the repository at `repoUrl` (e.g. http://127.0.0.1:8000/benchrepo). Credentials come
 * from `user`/`password` or the URL's userinfo; they are sent as Basic auth and never printed.
 * `maxSockets` bounds the connection pool (one connection per concurrent request).
 */
export function createRepoClient(repoUrl, { user, password, maxSockets = 16, timeoutMs = 120_000 } = {}) {
  const url = new URL(repoUrl);
  const transport = url.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets });
  const username = user ?? decodeURIComponent(url.username);
  const secret = password ?? decodeURIComponent(url.password);
  const authorization = username ? `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}` : undefined;
  const base = url.pathname.replace(/\/+$/, '');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');

  /**
   * Sends `method base+path` with `body` (an array of Buffers written in order, never copied) and
   * resolves to { status, headers, bytes } once the response has been read to its end; with
   * `collect`, also `body` (the response as one Buffer). Rejects on network errors and timeouts.
   */
  function request(method, path, { headers = {}, body = [], collect = false } = {}) {
    return new Promise((resolve, reject) => {
      const length = body.reduce((n, part) => n + part.length, 0);
      const req = transport.request({
        host,
        port: url.port,
        method,
        path: base + path,
        agent,
        timeout: timeoutMs,
        headers: {
          ...(authorization ? { authorization } : {}),
          ...(method === 'POST' ? { 'content-type': 'application/octet-stream', 'content-length': length } : {}),
          ...headers,
        },
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks = collect ? [] : undefined;
        let bytes = 0;
        res.on('data', (chunk) => {
          bytes += chunk.length;
          chunks?.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, bytes, body: chunks && Buffer.concat(chunks) }),
        );
      });
      for (const part of body) req.write(part);
      req.end();
    });
  }

  return { request, close: () => agent.destroy() };
}

/** The URL with any password replaced by "***", for messages. */
export function redactUrl(value) {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<invalid URL>';
  }
}
