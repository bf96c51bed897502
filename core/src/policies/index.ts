import type { Logger } from 'pino';
import type { StorageProvider } from '../storage/types.js';
import type { Policy } from './types.js';
import { appendOnlyPolicy } from './append-only.js';
import { anyQuota, QuotaPolicy } from './quota.js';
import { anyAppendOnly } from './settings.js';

/** Server options that configure policies (append-only, private repos, quotas). */
export interface PolicyOptions {
  /** `--append-only`: nothing but `locks/*` may be deleted. */
  appendOnly?: boolean;
  /** `--private-repos`: users may only touch repositories below their own name. */
  privateRepos?: boolean;
  /** `--max-size`: total quota in bytes over the whole store. */
  maxSize?: number;
  /** Per-user settings from the config file (beyond rest-server: its issues 74, 305). */
  users?: Record<string, { appendOnly?: boolean; maxSize?: number; privateRepos?: boolean }>;
  /** Per-repository settings from the config file, keyed by repository path (`alice/main`). */
  repos?: Record<string, { appendOnly?: boolean; maxSize?: number }>;
}

/**
 * The policies the options ask for, in the order they run: refusals first, then the
 * quota (so that a refused upload never reserves space). Counting quota usage reads
 * the provider, so this can take a while on a large store (as rest-server's does).
 * Private repositories are checked by auth, on the URL, before any route runs.
 */
export async function buildPolicies(
  options: PolicyOptions & { provider: StorageProvider; logger?: Logger },
): Promise<Policy[]> {
  const policies: Policy[] = [];
  if (anyAppendOnly(options)) policies.push(appendOnlyPolicy(options));
  if (anyQuota(options)) policies.push(await QuotaPolicy.create(options, options.provider, options.logger));
  return policies;
}
