/**
 * Run by listen.test.ts under `systemd-socket-activate`: serves the protocol on the
 * socket systemd passes (fd 3) and prints the address listen() reports. Not a test file.
 */
import { pino } from 'pino';
import { createServer, listen } from '../src/index.js';
import { local } from './security-support.js';

const [root, spec] = process.argv.slice(2) as [string, string];
const logger = pino({ level: 'silent' });
const provider = await local.create({ path: root }, { logger, groupAccessible: false });
const app = await createServer({ provider, auth: { kind: 'none' } });
const address = await listen(app, spec);
process.stdout.write(`${JSON.stringify({ address, env: process.env.LISTEN_FDS ?? null })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
