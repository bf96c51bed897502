import type { Policy } from './types.js';

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

/** The policies the options ask for, in the order they run. (To be written: see issue 4.) */
export function buildPolicies(_options: PolicyOptions): Policy[] {
  return [];
}
