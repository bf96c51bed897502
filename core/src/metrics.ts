import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { METRICS_PATH, unauthorized } from './auth/index.js';
import type { PolicyOptions } from './policies/index.js';
import { privateReposFor } from './policies/settings.js';
import type { Access, Policy } from './policies/types.js';

export interface MetricsOptions extends PolicyOptions {
  prometheus?: boolean;
  prometheusNoAuth?: boolean;
  auth?: { kind: string };
}

const LABELS = ['user', 'repo', 'type'] as const;

/**
 * rest-server's blob counters, with its names, help texts and labels, in a registry of
 * this server's own (no global state: two servers in one process count apart).
 */
function blobCounters(registry: Registry) {
  const counter = (name: string, help: string) =>
    new Counter({ name, help, labelNames: LABELS, registers: [registry] });
  return {
    read: counter('rest_server_blob_read_total', 'Total number of blobs read'),
    readBytes: counter('rest_server_blob_read_bytes_total', 'Total number of bytes read from blobs'),
    write: counter('rest_server_blob_write_total', 'Total number of blobs written'),
    writeBytes: counter('rest_server_blob_write_bytes_total', 'Total number of bytes written to blobs'),
    delete: counter('rest_server_blob_delete_total', 'Total number of blobs deleted'),
    deleteBytes: counter('rest_server_blob_delete_bytes_total', 'Total number of bytes of blobs deleted'),
  };
}

/**
 * The metrics observer: counts blob reads, writes and deletes for every backend.
 * Like rest-server, only blobs count (not `config`); `user` is empty with --no-auth.
 */
export function metricsPolicy(registry: Registry): Policy {
  const c = blobCounters(registry);
  const labels = (a: Access) => ({ user: a.user ?? '', repo: a.repo, type: a.type ?? '' });
  const isBlob = (a: Access) => a.type !== undefined && a.type !== 'config';
  return {
    name: 'metrics',
    needsDeletedSize: true,
    read(access, bytes) {
      if (!isBlob(access)) return;
      c.read.inc(labels(access));
      c.readBytes.inc(labels(access), bytes);
    },
    written(access, size) {
      if (!isBlob(access)) return;
      c.write.inc(labels(access));
      c.writeBytes.inc(labels(access), size);
    },
    deleted(access, size) {
      if (!isBlob(access)) return;
      c.delete.inc(labels(access));
      c.deleteBytes.inc(labels(access), size);
    },
  };
}

/**
 * `--prometheus`: GET /metrics (blob counters plus Node's process metrics). It needs
 * authentication unless `--prometheus-no-auth`; with private repositories only the
 * user `metrics` may read it. Returns the observer policy to run on every operation.
 */
export async function registerMetrics(app: FastifyInstance, options: MetricsOptions): Promise<Policy[]> {
  if (!options.prometheus) return [];
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const authenticated = options.auth?.kind !== 'none' && !options.prometheusNoAuth;

  app.get(METRICS_PATH, async (request, reply) => {
    if (authenticated && privateReposFor(options, request.user) && request.user !== 'metrics') {
      return unauthorized(reply, options.auth?.kind === 'htpasswd');
    }
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
  app.addHook('onClose', async () => registry.clear());
  return [metricsPolicy(registry)];
}
