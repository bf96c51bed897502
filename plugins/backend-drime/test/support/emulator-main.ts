/**
 * The emulator as a process of its own (for memory measurements of the backend that must
 * not count the emulator's stored bytes): prints `{"url","apiKey"}` on one line, runs until
 * stdin closes or SIGTERM.
 *
 *   node --import tsx plugins/backend-drime/test/support/emulator-main.ts [pageSize]
 */
import { DrimeEmulator } from './emulator.js';

const emulator = await DrimeEmulator.start({ pageSize: Number(process.argv[2]) || 1000 });
process.stdout.write(`${JSON.stringify({ url: emulator.url, apiKey: emulator.apiKey })}\n`);
const stop = () => void emulator.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.stdin.once('end', stop).resume();
