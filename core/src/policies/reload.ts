import type { PolicyOptions } from './index.js';
import { anyAppendOnly } from './settings.js';

type Settings = Pick<PolicyOptions, 'users' | 'repos'>;

export interface SettingsReload {
  /** True when the new settings are in force. */
  applied: boolean;
  /** What changed: `users.alice.appendOnly`, `repos.x/y` (added or removed). */
  changed: string[];
  /** Why they were not applied (a restart is needed for those), when `applied` is false. */
  needsRestart?: string;
}

/** Every leaf of the settings as `users.alice.appendOnly` -> value, to compare two versions. */
function leaves(settings: Settings): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const section of ['users', 'repos'] as const) {
    for (const [name, values] of Object.entries(settings[section] ?? {})) {
      for (const [key, value] of Object.entries(values ?? {})) out.set(`${section}.${name}.${key}`, value);
    }
  }
  return out;
}

/**
 * Put a config file's new per-user and per-repository settings into force in a running
 * server (SIGHUP): `options` is the object the server was created with, which auth and
 * the policies read on every request. Append-only and private-repos settings change in
 * place. Quota limits (`maxSize`) are counted at start, and an append-only setting where
 * the server started with none has no policy to enforce it: either needs a restart, and
 * then nothing changes (half a reload would be worse than none).
 */
export function reloadSettings(options: PolicyOptions, next: Settings): SettingsReload {
  const before = leaves(options);
  const after = leaves(next);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();
  const quota = changed.filter((k) => k.endsWith('.maxSize'));
  if (quota.length > 0) return { applied: false, changed, needsRestart: `quota limits changed (${quota.join(', ')})` };
  if (!anyAppendOnly(options) && anyAppendOnly({ ...next, appendOnly: options.appendOnly })) {
    return { applied: false, changed, needsRestart: 'append-only settings added to a server started without any' };
  }
  if (next.users) options.users = next.users;
  else delete options.users;
  if (next.repos) options.repos = next.repos;
  else delete options.repos;
  return { applied: true, changed };
}
