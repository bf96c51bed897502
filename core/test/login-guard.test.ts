import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { LoginGuard, LoginThrottled } from '../src/auth/login-guard.js';
import { basic, htpasswd, startServer, tempDir } from './security-support.js';

test('LoginGuard runs at most maxInFlight checks at once, queues the rest, refuses past the queue', async () => {
  const guard = new LoginGuard({ maxInFlight: 2, maxQueued: 3 });
  let running = 0;
  let most = 0;
  const check = async () => {
    most = Math.max(most, ++running);
    await sleep(20);
    running--;
    return true;
  };
  const admitted = Array.from({ length: 5 }, () => guard.run(check));
  assert.deepEqual(guard.load, { running: 2, queued: 3 });
  await assert.rejects(guard.run(check), (err: unknown) => err instanceof LoginThrottled && err.retryAfter >= 1);
  assert.deepEqual(await Promise.all(admitted), [true, true, true, true, true]);
  assert.equal(most, 2);
  assert.deepEqual(guard.load, { running: 0, queued: 0 });
  // A check that throws frees its slot too.
  await assert.rejects(guard.run(async () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(guard.load, { running: 0, queued: 0 });
});

test('LoginGuard refuses an address after failureLimit failures until its window ends; others are not affected', () => {
  let now = 1_000_000;
  const guard = new LoginGuard({ failureLimit: 3, windowMs: 10_000, now: () => now });
  for (let i = 0; i < 3; i++) {
    guard.admit('10.0.0.1');
    guard.failed('10.0.0.1');
  }
  assert.throws(() => guard.admit('10.0.0.1'), (err: unknown) => err instanceof LoginThrottled && err.retryAfter === 10);
  guard.admit('10.0.0.2');
  now += 6_000;
  assert.throws(() => guard.admit('10.0.0.1'), (err: unknown) => err instanceof LoginThrottled && err.retryAfter === 4);
  now += 4_000;
  guard.admit('10.0.0.1');
});

test('LoginGuard remembers at most maxAddresses addresses', () => {
  const guard = new LoginGuard({ failureLimit: 1, maxAddresses: 3 });
  for (const a of ['a', 'b', 'c', 'd']) guard.failed(a);
  guard.admit('a'); // forgotten: the oldest
  assert.throws(() => guard.admit('d'), LoginThrottled);
});

/** HEAD with Basic credentials over a fresh connection from `localAddress` (a 127.x address). */
function head(url: string, authorization: string, localAddress = '127.0.0.1'): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/alice/config`, { method: 'HEAD', headers: { authorization }, localAddress, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, ...(res.headers['retry-after'] ? { retryAfter: res.headers['retry-after'] } : {}) });
    });
    req.on('error', reject);
    req.end();
  });
}

test('an address that keeps sending wrong passwords gets 429 with Retry-After; a logged-in user from it and other addresses still get in', async (t) => {
  const file = join(await tempDir(t), '.htpasswd');
  htpasswd(file, 'alice', 'alice-pw', '-B', true);
  const { url } = await startServer(t, { auth: { kind: 'htpasswd', file, limits: { failureLimit: 4, windowMs: 60_000 } } });
  const good = basic('alice', 'alice-pw');
  assert.equal((await head(url, good, '127.0.0.2')).status, 404); // logged in, now cached
  for (let i = 0; i < 4; i++) assert.equal((await head(url, basic('alice', `guess${i}`), '127.0.0.2')).status, 401);
  const refused = await head(url, basic('alice', 'guess4'), '127.0.0.2');
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.retryAfter) > 0 && Number(refused.retryAfter) <= 60, refused.retryAfter);
  // Even the right password is not checked from there now, unless it is already verified (cached).
  assert.equal((await head(url, good, '127.0.0.2')).status, 404);
  assert.equal((await head(url, basic('mallory', 'x'), '127.0.0.2')).status, 429);
  assert.equal((await head(url, basic('alice', 'nope'), '127.0.0.3')).status, 401);
});

test('a flood of wrong passwords does not slow a logged-in user: cached HEADs stay fast while 16 clients guess', async (t) => {
  const file = join(await tempDir(t), '.htpasswd');
  // Cost 10, the usual: tens of milliseconds of CPU per check.
  execFileSync('htpasswd', ['-bcB', '-C', '10', file, 'alice', 'alice-pw'], { stdio: 'ignore' });
  // No per-address penalty here: the bound on checks in flight alone must protect.
  const { url } = await startServer(t, { auth: { kind: 'htpasswd', file, limits: { failureLimit: 1e9 } } });
  const good = basic('alice', 'alice-pw');
  assert.equal((await head(url, good)).status, 404);

  let flooding = true;
  let wrong = 0;
  const attackers = Array.from({ length: 16 }, async (_, i) => {
    while (flooding) {
      const { status } = await head(url, basic(`user${i}`, `guess-${wrong}`), `127.0.1.${i + 1}`);
      assert.ok(status === 401 || status === 429, String(status));
      wrong++;
    }
  });
  await sleep(300);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const started = performance.now();
    assert.equal((await head(url, good)).status, 404);
    times.push(performance.now() - started);
  }
  flooding = false;
  await Promise.all(attackers);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  // Before the bound (bcrypt on the event loop) the median was seconds; a generous limit
  // that a loaded 2-core machine still meets.
  assert.ok(wrong > 16, `the attackers got ${wrong} answers`);
  assert.ok(median < 150, `median cached HEAD ${median.toFixed(1)} ms under the flood (all: ${times.map((x) => x.toFixed(0)).join(' ')})`);
});
