/** Print an error for a person (message, code, hint; never a stack unless DEBUG) and return the exit code. */
export function reportError(err: unknown): number {
  const e = err as { message?: string; code?: string; hint?: string; stack?: string };
  const code = typeof e?.code === 'string' ? ` [${e.code}]` : '';
  console.error(`pyrestserver: error${code}: ${e?.message ?? String(err)}`);
  if (e?.hint) console.error(e.hint);
  if (process.env.PYRESTSERVER_DEBUG && e?.stack) console.error(e.stack);
  return typeof e?.code === 'string' && e.code === 'PYRS_USAGE' ? 2 : 1;
}
