import type { FastifyInstance } from 'fastify';

/**
 * Listen the way rest-server's `--listen` does: `:8000` (all interfaces), `host:port`,
 * `[v6]:port`. (unix:/path and systemd socket activation: see issue 4.)
 * Returns the address to show users.
 */
export async function listen(app: FastifyInstance, spec: string): Promise<string> {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(spec);
  if (!m) throw new Error(`--listen: expected [host]:port, got ${JSON.stringify(spec)}`);
  const host = m[1] ?? (m[2] || '::');
  return app.listen({ host, port: Number(m[3]) });
}
