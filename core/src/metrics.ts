import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { METRICS_PATH, unauthorized } from './auth/index.js';
import type { PolicyOptions } from './policies/index.js';
import { privateReposFor } from './policies/settings.js';
import type { Access, Policy } from './policies/types.js';
import { QuotaPolicy } from './policies/quota.js';
import { FILE_TYPES, RepoStatsTracker } from './repo-stats.js';
import type { StorageProvider } from './storage/types.js';
import type { Logger } from 'pino';

export interface MetricsOptions extends PolicyOptions {
  prometheus?: boolean;
  prometheusNoAuth?: boolean;
  auth?: { kind: string };
  provider: StorageProvider;
  logger?: Logger;
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
 * pyrestserver's own gauges, per repository, read from the tracker and the quota policy at
 * each scrape (nothing walks the store then): what each repository holds, its newest
 * snapshot, and every quota's limit and use.
 */
function repositoryGauges(registry: Registry, tracker: RepoStatsTracker, quota: QuotaPolicy | undefined): void {
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); collect(this); } });
  gauge('pyrestserver_repository_stored_bytes', 'Bytes stored in a repository, by file type', ['repo', 'type'], (g) => {
    for (const stats of tracker.counted()) for (const type of FILE_TYPES) g.set({ repo: stats.repo, type }, stats.types[type].bytes);
  });
  gauge('pyrestserver_repository_stored_files', 'Files stored in a repository, by file type', ['repo', 'type'], (g) => {
    for (const stats of tracker.counted()) for (const type of FILE_TYPES) g.set({ repo: stats.repo, type }, stats.types[type].files);
  });
  gauge(
    'pyrestserver_repository_newest_snapshot_timestamp_seconds',
    'When the newest snapshot file of a repository was stored (Unix time); absent without snapshots',
    ['repo'],
    (g) => {
      for (const stats of tracker.counted()) if (stats.newestSnapshot !== undefined) g.set({ repo: stats.repo }, stats.newestSnapshot / 1000);
    },
  );
  gauge('pyrestserver_repository_stats_pending', 'Repositories not counted yet (the walk at start is still running)', [], (g) => {
    g.set(tracker.pending);
  });
  if (!quota) return;
  const labels = ['scope', 'name'];
  gauge('pyrestserver_quota_limit_bytes', 'A quota: scope server (--max-size), user or repo', labels, (g) => {
    for (const q of quota.limits()) g.set({ scope: q.scope, name: q.name }, q.limit);
  });
  gauge('pyrestserver_quota_used_bytes', 'Bytes counted against a quota (stored plus uploads in flight)', labels, (g) => {
    for (const q of quota.limits()) g.set({ scope: q.scope, name: q.name }, q.used);
  });
}

/**
 * The metrics observer: counts blob reads, writes and deletes for every backend, and keeps
 * the tracker's per-repository counts current (config included there).
 * Like rest-server, its counters count only blobs (not `config`); `user` is empty with --no-auth.
 */
export function metricsPolicy(registry: Registry, tracker?: RepoStatsTracker): Policy {
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
      tracker?.written(access.repo, access.type!, size);
      if (!isBlob(access)) return;
      c.write.inc(labels(access));
      c.writeBytes.inc(labels(access), size);
    },
    deleted(access, size) {
      tracker?.deleted(access.repo, access.type!, size);
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
export async function registerMetrics(app: FastifyInstance, options: MetricsOptions, policies: readonly Policy[] = []): Promise<Policy[]> {
  if (!options.prometheus) return [];
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const tracker = new RepoStatsTracker(options.provider, options.logger);
  repositoryGauges(registry, tracker, policies.find((p): p is QuotaPolicy => p instanceof QuotaPolicy));
  tracker.start();
  app.addHook('onClose', async () => tracker.close());
  const authenticated = options.auth?.kind !== 'none' && !options.prometheusNoAuth;

  app.get(METRICS_PATH, async (request, reply) => {
    if (authenticated && privateReposFor(options, request.user) && request.user !== 'metrics') {
      return unauthorized(reply, options.auth?.kind === 'htpasswd');
    }
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
  app.addHook('onClose', async () => registry.clear());
  return [metricsPolicy(registry, tracker)];
}
