import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { mock, test } from 'node:test';
import { pino } from 'pino';
import { clfDate, combinedLogLine } from '../src/access-log.js';
import { ConfigError } from '../src/errors.js';
import { basic, blob, htpasswd, startServer, tempDir, upload } from './security-support.js';

const LINE = /^(\S+) - (\S+) \[(\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(\S+) (\S+) HTTP\/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$/;

test('clfDate writes Apache time: dd/Mon/yyyy:hh:mm:ss +hhmm in local time', () => {
  const d = new Date(2024, 0, 5, 7, 8, 9);
  assert.match(clfDate(d), /^05\/Jan\/2024:07:08:09 [+-]\d{4}$/);
});

test('combinedLogLine: dashes for unknowns, quotes escaped', () => {
  const line = combinedLogLine({
    host: undefined, user: undefined, time: new Date(2024, 11, 31, 23, 59, 59), method: 'GET',
    url: '/a"b', httpVersion: '1.1', status: 404, bytes: 0, referer: undefined, userAgent: 'x"y\n',
  });
  assert.match(line, /^- - - \[31\/Dec\/2024:23:59:59 [+-]\d{4}\] "GET \/a\\"b HTTP\/1\.1" 404 0 "" "x\\"y\\x0a"$/);
});

test('--log FILE: one combined line per response, with user, status and body bytes', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'access.log');
  const file = join(dir, '.htpasswd');
  htpasswd(file, 'alice', 'pw', '-s', true);
  const { url, app, provider } = await startServer(t, { auth: { kind: 'htpasswd', file }, log });
  await provider.createRepository('alice');
  const b = blob('0123456789');
  const alice = { authorization: basic('alice', 'pw'), 'user-agent': 'restic/0.14.0', referer: 'http://ref/' };
  assert.equal((await fetch(`${url}/alice/config`)).status, 401);
  assert.equal((await upload(`${url}/alice/data/${b.name}`, b.body, alice)).status, 200);
  assert.equal((await (await fetch(`${url}/alice/data/${b.name}`, { headers: alice })).text()).length, 10);
  assert.equal((await fetch(`${url}/alice/data/${b.name}`, { headers: { ...alice, range: 'bytes=2-4' } })).status, 206);
  assert.equal((await fetch(`${url}/alice/data/${b.name}`, { method: 'HEAD', headers: alice })).status, 200);
  await app.close();

  const lines = (await readFile(log, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, 5);
  const parsed = lines.map((l) => {
    const m = LINE.exec(l);
    assert.ok(m, l);
    return { host: m[1], user: m[2], method: m[4], path: m[5], status: Number(m[6]), bytes: Number(m[7]), referer: m[8], agent: m[9] };
  });
  assert.deepEqual(parsed.map((p) => [p.user, p.method, p.status, p.bytes]), [
    ['-', 'GET', 401, 'Unauthorized\n'.length],
    ['alice', 'POST', 200, 0],
    ['alice', 'GET', 200, 10],
    ['alice', 'GET', 206, 3],
    ['alice', 'HEAD', 200, 0],
  ]);
  assert.equal(parsed[0]!.host, '127.0.0.1');
  assert.equal(parsed[2]!.path, `/alice/data/${b.name}`);
  assert.equal(parsed[2]!.agent, 'restic/0.14.0');
  assert.equal(parsed[2]!.referer, 'http://ref/');
});

test('--log appends to an existing file', async (t) => {
  const log = join(await tempDir(t), 'access.log');
  await writeFile(log, 'earlier line\n');
  const { url, app } = await startServer(t, { log });
  await fetch(`${url}/x/config`);
  await app.close();
  const lines = (await readFile(log, 'utf8')).trimEnd().split('\n');
  assert.equal(lines[0], 'earlier line');
  assert.match(lines[1]!, / "GET \/x\/config HTTP\/1\.1" 404 /);
});

test('--log -: lines go to stdout', async (t) => {
  const written: string[] = [];
  const { url, app } = await startServer(t, { log: '-' });
  const spy = mock.method(process.stdout, 'write', (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    await fetch(`${url}/x/config`);
    await app.close();
  } finally {
    spy.mock.restore();
  }
  assert.equal(written.filter((l) => / "GET \/x\/config HTTP\/1\.1" 404 /.test(l)).length, 1);
});

test('--log to a file that cannot be opened fails at start with the path named', async (t) => {
  const log = join(await tempDir(t), 'no-such-dir', 'access.log');
  await assert.rejects(startServer(t, { log }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.ok(err.message.includes(log));
    return true;
  });
});

test('--log to a file that cannot be written (disk full) warns and keeps serving', async (t) => {
  // Writes to /dev/full fail with ENOSPC, as a full disk does.
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const { url, app } = await startServer(t, { log: '/dev/full', logger });
  for (let i = 0; i < 3; i++) {
    assert.equal((await fetch(`${url}/x/config`)).status, 404);
  }
  await app.close();
  const failed = warnings.map((l) => JSON.parse(l) as { msg: string; err?: string }).filter((r) => /access log/.test(r.msg));
  assert.equal(failed.length, 1, JSON.stringify(warnings)); // once, not once per line
  assert.match(failed[0]!.err ?? '', /ENOSPC/);
});

/** Send raw request bytes and resolve with the whole reply once the server closes the connection. */
function rawRequest(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let reply = '';
    socket.on('data', (d) => (reply += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
    socket.end(text);
  });
}

test('--log: every reply has its line: undecodable URLs, absolute-form targets (userinfo never logged), HEAD without body bytes, hung-up clients', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'access.log');
  const file = join(dir, '.htpasswd');
  htpasswd(file, 'alice', 'pw', '-s', true);
  const { url, app, provider } = await startServer(t, { auth: { kind: 'htpasswd', file }, log });
  await provider.createRepository('alice');
  const alice = basic('alice', 'pw');
  assert.match(await rawRequest(url, 'GET /%E0%A4%A/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const absolute = `GET http://alice:s3cr3t-in-url@127.0.0.1/alice/config HTTP/1.1\r\nHost: x\r\nAuthorization: ${alice}\r\nConnection: close\r\n\r\n`;
  assert.match(await rawRequest(url, absolute), /^HTTP\/1\.1 404 /);
  assert.equal((await fetch(`${url}/alice/data/${'ab'.repeat(32)}`, { method: 'HEAD', headers: { authorization: alice } })).status, 404);
  // A client that hangs up in the middle of its upload.
  await new Promise<void>((resolve) => {
    const req = httpRequest(`${url}/alice/data/${'cd'.repeat(32)}`, { method: 'POST', headers: { authorization: alice, 'content-length': '100' } });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(Buffer.alloc(10), () => setTimeout(() => req.destroy(), 50));
  });
  await new Promise((r) => setTimeout(r, 200));
  await app.close();
  const text = await readFile(log, 'utf8');
  assert.ok(!text.includes('s3cr3t-in-url'), text);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 4, text);
  assert.match(lines[0]!, /^127\.0\.0\.1 - - \[.*\] "GET \/%E0%A4%A\/config HTTP\/1\.1" 400 \d+ /);
  assert.match(lines[1]!, / - alice \[.*\] "GET http:\/\/127\.0\.0\.1\/alice\/config HTTP\/1\.1" 404 /);
  assert.match(lines[2]!, /"HEAD \/alice\/data\/(ab){32} HTTP\/1\.1" 404 0 /);
  assert.match(lines[3]!, / - alice \[.*\] "POST \/alice\/data\/(cd){32} HTTP\/1\.1" \d{3} \d+ /);
});
