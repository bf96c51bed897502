import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { blob, startServer, upload } from './security-support.js';

/** A server whose log lines (debug and up) are kept, parsed. */
async function loggedServer(t: import('node:test').TestContext, options = {}) {
  const records: { level: number; msg: string; err?: { stack?: string } }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { records, ...(await startServer(t, { logger, ...options })) };
}

test('client errors (403, 404, 416, 507) are logged below error level and without stack traces', async (t) => {
  const { url, provider, records } = await loggedServer(t, { maxSize: 100, appendOnly: true });
  await provider.createRepository('r');
  const b = blob('x'.repeat(10));
  assert.equal((await upload(`${url}/r/data/${b.name}`, b.body)).status, 200);
  assert.equal((await fetch(`${url}/r/data/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${url}/r/data/${b.name}`, { headers: { range: 'bytes=50-60' } })).status, 416);
  assert.equal((await fetch(`${url}/r/data/${b.name}`, { method: 'DELETE' })).status, 403);
  assert.equal((await upload(`${url}/r/data/${b.name}`, b.body)).status, 403);
  const big = blob('y'.repeat(200));
  assert.equal((await upload(`${url}/r/data/${big.name}`, big.body)).status, 507);
  assert.deepEqual(records.filter((r) => r.level >= 50), []);
  assert.deepEqual(records.filter((r) => r.err?.stack), []);
  assert.ok(records.some((r) => r.level === 40 && /refused/.test(r.msg)), 'the 507 is a warning');
});

test('a real server fault (500) is logged at error level with its stack', async (t) => {
  const { url, provider, records } = await loggedServer(t);
  await provider.createRepository('r');
  provider.stat = async () => {
    throw new Error('disk exploded');
  };
  assert.equal((await fetch(`${url}/r/data/${'0'.repeat(64)}`, { method: 'HEAD' })).status, 500);
  const errors = records.filter((r) => r.level === 50);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.err?.stack ?? '', /disk exploded/);
});
