import type { CAC } from 'cac';
import pino from 'pino';
import { createServer, listen } from '@pyrestserver/core';
import localBackend from 'pyrestserver-backend-local';

/** `pyrestserver serve`: rest-server's flags. (Minimal for now; plugin loading and config: issue 3.) */
export function registerServe(cli: CAC): void {
  cli
    .command('serve', 'Serve restic repositories over the REST protocol')
    .option('--path <dir>', 'data directory', { default: '/tmp/restic' })
    .option('--listen <addr>', 'listen address', { default: ':8000' })
    .option('--no-auth', 'disable .htpasswd authentication')
    .option('--no-verify-upload', 'do not verify the integrity of uploaded data')
    .option('--debug', 'output debug messages')
    .action(async (flags: Record<string, unknown>) => {
      const logger = pino({ level: flags.debug ? 'debug' : 'info' });
      const provider = await localBackend.create({ path: String(flags.path) }, { logger, groupAccessible: false });
      const app = await createServer({
        provider,
        logger,
        auth: { kind: 'none' },
        verifyUpload: flags.verifyUpload !== false,
      });
      const address = await listen(app, String(flags.listen));
      logger.info({ address, path: flags.path }, 'listening');
      await new Promise<void>((resolve) => {
        const stop = () => { void app.close().then(() => provider.close?.()).then(() => resolve()); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      return 0;
    });
}
