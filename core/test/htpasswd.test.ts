import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { apr1 } from '../src/auth/apr1.js';
import { CredentialCache } from '../src/auth/credential-cache.js';
import { costKey, hashKind, verifyHash } from '../src/auth/hashes.js';
import { dummyFor, HtpasswdFile, parseHtpasswd } from '../src/auth/htpasswd.js';
import { ConfigError } from '../src/errors.js';
import { htpasswd, tempDir } from './security-support.js';

/** A logger that keeps what it was told. */
function recordingLogger() {
  const lines: string[] = [];
  const log = (obj: unknown, msg?: string) => lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  return { lines, info: log, warn: log } as unknown as { lines: string[]; info: typeof log; warn: typeof log };
}

/** The text of an htpasswd file the real `htpasswd` made with these entries. */
async function htpasswdText(t: TestContext, entries: [user: string, password: string, flag: Parameters<typeof htpasswd>[3]][]) {
  const file = join(await tempDir(t), 'htpasswd');
  entries.forEach(([user, password, flag], i) => htpasswd(file, user, password, flag, i === 0));
  return readFile(file, 'utf8');
}

/** An htpasswd file with user alice (password `pw`), opened with a counting verifier. */
async function aliceWithCountedChecks(t: TestContext, flag: '-B' | '-s' = '-B') {
  const file = join(await tempDir(t), 'htpasswd');
  htpasswd(file, 'alice', 'pw', flag, true);
  const calls: string[] = [];
  const verify = async (hash: string, password: string) => {
    calls.push(hash);
    return verifyHash(hash, password);
  };
  return { calls, users: await HtpasswdFile.open(file, { logger: recordingLogger(), verify }) };
}

/** Poll until `check` is true (file watching is asynchronous); fails after 5 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail('condition not met within 5 s');
}

test('apr1 reproduces `htpasswd -m` for several passwords and salts', () => {
  for (const password of ['secret', '', 'pässwörd with spaces', 'x'.repeat(40)]) {
    const line = execFileSync('htpasswd', ['-nbm', 'u', password], { encoding: 'utf8' }).trim();
    const hash = line.slice('u:'.length);
    const salt = hash.split('$')[2]!;
    assert.equal(apr1(password, salt), hash);
  }
});

test('verifyHash accepts the right password and refuses a wrong one for -B, -s and -m entries', async (t) => {
  const text = await htpasswdText(t, [['b', 'pw-b', '-B'], ['s', 'pw-s', '-s'], ['m', 'pw-m', '-m']]);
  const { users, warnings } = parseHtpasswd(text);
  assert.deepEqual(warnings, []);
  assert.deepEqual([...users.keys()], ['b', 's', 'm']);
  assert.deepEqual([...users.values()].map(hashKind), ['bcrypt', 'sha1', 'apr1']);
  for (const [user, hash] of users) {
    assert.equal(await verifyHash(hash, `pw-${user}`), true, user);
    assert.equal(await verifyHash(hash, `pw-${user}x`), false, user);
  }
});

test('bcrypt $2a$, $2b$ and $2y$ prefixes all verify', async () => {
  const y = execFileSync('htpasswd', ['-nbB', '-C', '4', 'u', 'pw'], { encoding: 'utf8' }).trim().slice(2);
  assert.match(y, /^\$2y\$/);
  for (const prefix of ['$2a$', '$2b$', '$2y$']) assert.equal(await verifyHash(prefix + y.slice(4), 'pw'), true);
});

test('plain-text and crypt entries are refused with a warning naming the user, never the hash', async (t) => {
  const text = await htpasswdText(t, [['plain', 'hunter2', '-p'], ['crypt', 'hunter2', '-d'], ['good', 'pw', '-s']]);
  const cryptHash = text.split('\n').find((l) => l.startsWith('crypt:'))!.slice('crypt:'.length);
  const { users, warnings } = parseHtpasswd(`# comment\n\n${text}bad user:{SHA}x\n`);
  assert.deepEqual([...users.keys()], ['good']);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /"plain".*unsupported/);
  assert.match(warnings[1]!, /"crypt".*unsupported/);
  assert.match(warnings[2]!, /"bad user".*invalid user name/);
  for (const w of warnings) {
    assert.ok(!w.includes('hunter2'));
    assert.ok(!w.includes(cryptHash));
  }
});

test('a missing htpasswd file is ConfigError AUTH_SETUP naming the path, with the htpasswd hint', async (t) => {
  const file = join(await tempDir(t), 'nope', '.htpasswd');
  await assert.rejects(HtpasswdFile.open(file, { logger: recordingLogger() }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'PYRS_AUTH_SETUP');
    assert.ok(err.message.includes(file));
    assert.match(err.hint ?? '', /htpasswd -B -C 12 -c .* USER/);
    assert.match(err.hint ?? '', /--no-auth/);
    return true;
  });
});

test('verified credentials are cached: a second check does not run the hash again', async (t) => {
  const { calls, users } = await aliceWithCountedChecks(t);
  assert.equal(await users.check('alice', 'pw'), true);
  assert.equal(await users.check('alice', 'pw'), true);
  assert.equal(calls.length, 1);
  // A wrong password is never served from the cache, and never cached.
  assert.equal(await users.check('alice', 'wrong'), false);
  assert.equal(await users.check('alice', 'wrong'), false);
  assert.equal(calls.length, 3);
  assert.equal(await users.check('alice', 'pw'), true);
  assert.equal(calls.length, 3);
});

test('concurrent checks of the same credentials share one hash verification', async (t) => {
  const { calls, users } = await aliceWithCountedChecks(t);
  const results = await Promise.all(Array.from({ length: 5 }, () => users.check('alice', 'pw')));
  assert.deepEqual(results, [true, true, true, true, true]);
  assert.equal(calls.length, 1);
});

test('an unknown user costs a dummy verification of the kind and cost of the file\'s users, and fails', async (t) => {
  const dir = await tempDir(t);
  const cases: [args: string[], kind: string][] = [
    [['-s'], 'sha1'],
    [['-m'], 'apr1/8'],
    [['-B', '-C', '5'], 'bcrypt/05'],
    [['-B', '-C', '11'], 'bcrypt/11'],
    [['-2'], 'sha256crypt/5000/16'],
    [['-5', '-r', '20000'], 'sha512crypt/20000/16'],
  ];
  for (const [i, [args, kind]] of cases.entries()) {
    const file = join(dir, `htpasswd-${i}`);
    for (const user of ['alice', 'bob']) execFileSync('htpasswd', ['-b', ...(user === 'alice' ? ['-c'] : []), ...args, file, user, 'pw']);
    const calls: string[] = [];
    const verify = async (hash: string, password: string) => (calls.push(hash), verifyHash(hash, password));
    const users = await HtpasswdFile.open(file, { logger: recordingLogger(), verify });
    assert.equal(await users.check('mallory', 'pw'), false, kind);
    assert.equal(await users.check('alice', 'wrong'), false, kind);
    assert.equal(calls.length, 2);
    assert.equal(costKey(calls[0]!), kind, `dummy for ${args.join(' ')}`);
    assert.equal(costKey(calls[0]!), costKey(calls[1]!));
    assert.notEqual(calls[0], calls[1]);
    // A dummy the library cannot decode would be refused at once, telling the names apart.
    if (kind === 'bcrypt/11') {
      const time = async (hash: string) => {
        const started = performance.now();
        await verifyHash(hash, 'wrong');
        return performance.now() - started;
      };
      const [dummy, real] = [await time(calls[0]!), await time(calls[1]!)];
      assert.ok(dummy > real / 5, `dummy check ${dummy.toFixed(1)} ms, a real user's ${real.toFixed(1)} ms`);
    }
  }
});

test('a file mixing hash kinds or costs is logged as a warning (names can be told apart by timing)', async (t) => {
  const text = await htpasswdText(t, [['a', 'pw', '-B'], ['b', 'pw', '-B'], ['c', 'pw', '-s']]);
  const file = join(await tempDir(t), 'htpasswd');
  await writeFile(file, text);
  const logger = recordingLogger();
  await HtpasswdFile.open(file, { logger });
  assert.ok(logger.lines.some((l) => /different hash kinds or costs/.test(l) && l.includes('bcrypt/04') && l.includes('sha1')), logger.lines.join('\n'));
  assert.match(await dummyFor(parseHtpasswd(text).users).dummy, /^\$2[aby]\$04\$/);
});

test('SHA-crypt entries made by `htpasswd -2` and `-5` (with and without -r) verify; a wrong password does not', async () => {
  for (const args of [['-2'], ['-5'], ['-2', '-r', '1000'], ['-5', '-r', '12345']]) {
    for (const password of ['secret', 'pässwörd with spaces', 'x'.repeat(80)]) {
      const hash = execFileSync('htpasswd', ['-nb', ...args, 'u', password], { encoding: 'utf8' }).trim().slice(2);
      assert.equal(hashKind(hash), args[0] === '-2' ? 'sha256crypt' : 'sha512crypt', hash);
      assert.deepEqual(parseHtpasswd(`u:${hash}\n`).warnings, []);
      assert.equal(await verifyHash(hash, password), true, `${args.join(' ')} ${hash}`);
      assert.equal(await verifyHash(hash, `${password}x`), false);
    }
  }
  // A second implementation: OpenSSL's (default rounds, a salt cut to 16 characters).
  for (const [flag, salt] of [['-5', 'saltstring'], ['-6', 'saltstringsaltstring']]) {
    const hash = execFileSync('openssl', ['passwd', flag, '-salt', salt!, 'Hello world!'], { encoding: 'utf8' }).trim();
    assert.equal(await verifyHash(hash, 'Hello world!'), true, hash);
    assert.equal(await verifyHash(hash, 'Hello world?'), false, hash);
  }
});

test('hashing never holds up the event loop: a slow SHA-crypt and bcrypt check run while timers keep firing', async () => {
  const sha = execFileSync('htpasswd', ['-nb5', '-r', '400000', 'u', 'pw'], { encoding: 'utf8' }).trim().slice(2);
  const bcryptHash = execFileSync('htpasswd', ['-nbB', '-C', '12', 'u', 'pw'], { encoding: 'utf8' }).trim().slice(2);
  for (const hash of [sha, bcryptHash]) {
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    assert.equal(await verifyHash(hash, 'wrong'), false);
    const took = performance.now() - started;
    clearInterval(timer);
    // The check takes hundreds of milliseconds; timers still fire every few.
    assert.ok(took > 100, `check took ${took} ms`);
    assert.ok(worst < took / 3, `the event loop stalled ${worst.toFixed(0)} ms during a ${took.toFixed(0)} ms check`);
  }
});

test('cache entries expire after their TTL', () => {
  let now = 1000;
  const cache = new CredentialCache({ ttlMs: 100, now: () => now });
  const d = cache.digest('alice', 'pw');
  cache.add('alice', d);
  assert.equal(cache.has('alice', cache.digest('alice', 'pw')), true);
  assert.equal(cache.has('alice', cache.digest('alice', 'other')), false);
  now += 100;
  assert.equal(cache.has('alice', d), false);
  assert.equal(cache.size, 0);
});

test('the cache keeps no password: digests are salted per process', () => {
  const a = new CredentialCache();
  const b = new CredentialCache();
  assert.notDeepEqual(a.digest('alice', 'pw'), b.digest('alice', 'pw'));
  assert.notDeepEqual(a.digest('alice', 'pw'), a.digest('alic', 'epw'));
});

test('reload() picks up a changed file and clears the cache; a failed reload keeps the users', async (t) => {
  const file = join(await tempDir(t), 'htpasswd');
  htpasswd(file, 'alice', 'old', '-s', true);
  const logger = recordingLogger();
  const users = await HtpasswdFile.open(file, { logger });
  assert.equal(await users.check('alice', 'old'), true);
  htpasswd(file, 'alice', 'new', '-s');
  assert.equal(await users.check('alice', 'old'), true, 'cached until reload');
  assert.equal(await users.reload(), true);
  assert.equal(await users.check('alice', 'old'), false);
  assert.equal(await users.check('alice', 'new'), true);

  await rm(file);
  assert.equal(await users.reload(), false);
  assert.equal(await users.check('alice', 'new'), true);
  assert.ok(logger.lines.some((l) => l.includes('could not reload')));
});

test('watch() reloads when the file is edited in place and when an editor replaces it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'htpasswd');
  htpasswd(file, 'alice', 'one', '-s', true);
  const users = await HtpasswdFile.open(file, { logger: recordingLogger() });
  users.watch();
  t.after(() => users.close());

  htpasswd(file, 'bob', 'two', '-s'); // htpasswd rewrites the file
  await eventually(() => users.check('bob', 'two'));

  // An editor writes a new file next to it and renames it over the old one.
  const line = execFileSync('htpasswd', ['-nbs', 'carol', 'three'], { encoding: 'utf8' });
  await writeFile(join(dir, '.htpasswd.swp'), line);
  await rename(join(dir, '.htpasswd.swp'), file);
  await eventually(() => users.check('carol', 'three'));
  assert.equal(await users.check('alice', 'one'), false);
});
