import { ConfigError, ConfigErrorCode, type Logger, type StorageProvider } from '@pyrestserver/core';
import type { ServeSettings } from './settings.js';

/** The backend's provider; a failure becomes BACKEND_START with the backend's secrets masked. */
export async function startBackend(settings: ServeSettings, logger: Logger): Promise<StorageProvider> {
  const { plugin } = settings.backend;
  try {
    return await plugin.create(settings.backendOptions, {
      logger: logger.child({ backend: plugin.type }),
      groupAccessible: settings.groupAccessible,
    });
  } catch (err) {
    if (isConfigError(err)) throw err;
    const mask = (text: string) => settings.secretValues.reduce((t, secret) => t.split(secret).join('[secret]'), text);
    const message = mask((err as Error)?.message ?? String(err));
    throw new ConfigError(ConfigErrorCode.BACKEND_START, `the ${plugin.type} backend failed to start: ${message}`);
  }
}

/** By code, not class: a plugin may bring its own copy of @pyrestserver/core. */
const CONFIG_CODES = new Set<string>(Object.values(ConfigErrorCode));
export const isConfigError = (err: unknown): boolean => CONFIG_CODES.has((err as { code?: string } | null)?.code ?? '');
