import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { forwardedFor, trustedProxies } from '../src/trusted-proxy.js';
import { createServer } from '../src/server.js';
import { local, silentLogger, tempDir } from './security-support.js';

test('trustedProxies: addresses and CIDR networks, IPv4 and IPv6, IPv4-mapped sockets', () => {
  const trusted = trustedProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
  assert.equal(trusted('10.1.2.3'), true);
  assert.equal(trusted('::ffff:10.1.2.3'), true);
  assert.equal(trusted('11.0.0.1'), false);
  assert.equal(trusted('192.0.2.7'), true);
  assert.equal(trusted('192.0.2.8'), false);
  assert.equal(trusted('fd12::1'), true);
  assert.equal(trusted('::1'), true);
  assert.equal(trusted('2001:db8::1'), false);
  assert.equal(trusted('not an address'), false);
});

test('trustedProxies: a bad value is a clear error naming it', () => {
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.1/8/9', '::1/129', '']) {
    assert.throws(() => trustedProxies([bad]), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PYRS_OPTIONS_INVALID');
      assert.match(err.message, /^--trusted-proxy: expected an IP address or CIDR network, got /);
      assert.ok(err.message.includes(JSON.stringify(bad)));
      return true;
    });
  }
});

test('forwardedFor: the for= nodes of RFC 7239, ports and quotes removed', () => {
  assert.deepEqual(forwardedFor('for=192.0.2.60;proto=http;by=203.0.113.43'), ['192.0.2.60']);
  assert.deepEqual(forwardedFor('for="[2001:db8:cafe::17]:4711", for=198.51.100.17:80'), ['2001:db8:cafe::17', '198.51.100.17']);
  assert.deepEqual(forwardedFor('proto=https'), []);
});

/** The client address the access log wrote for one request from 127.0.0.1 with these headers. */
async function loggedHost(t: Parameters<typeof tempDir>[0], trusted: string[] | undefined, headers: Record<string, string>) {
  const dir = await tempDir(t);
  const log = join(dir, 'access.log');
  const provider = await local.create({ path: dir }, { logger: silentLogger, groupAccessible: false });
  const app = await createServer({ provider, auth: { kind: 'none' }, log, ...(trusted ? { trustedProxies: trusted } : {}) });
  t.after(() => app.close());
  const seen: string[] = [];
  app.addHook('onResponse', async (request) => void seen.push(request.ip));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  assert.equal((await fetch(`${url}/config`, { headers })).status, 404);
  await app.close();
  const line = (await readFile(log, 'utf8')).trimEnd();
  return { logged: line.split(' ')[0], ip: seen[0] };
}

test('--trusted-proxy: request.ip and the access log take the client from X-Forwarded-For of a trusted proxy', async (t) => {
  const xff = { 'x-forwarded-for': '198.51.100.9, 203.0.113.5' };
  // 127.0.0.1 (the socket) is trusted, 203.0.113.5 is not: the client is the first untrusted hop.
  assert.deepEqual(await loggedHost(t, ['127.0.0.0/8'], xff), { logged: '203.0.113.5', ip: '203.0.113.5' });
  // Both proxies trusted: the address the first proxy saw.
  assert.deepEqual(await loggedHost(t, ['127.0.0.1', '203.0.113.0/24'], xff), { logged: '198.51.100.9', ip: '198.51.100.9' });
});

test('--trusted-proxy: the Forwarded header works the same way', async (t) => {
  const fwd = { forwarded: 'for="[2001:db8::5]:1234";proto=https' };
  assert.deepEqual(await loggedHost(t, ['127.0.0.1'], fwd), { logged: '2001:db8::5', ip: '2001:db8::5' });
});

test('headers from anyone else are never believed', async (t) => {
  const spoof = { 'x-forwarded-for': '198.51.100.9', forwarded: 'for=198.51.100.10' };
  // Not a trusted proxy: the socket's address, whatever the headers say.
  assert.deepEqual(await loggedHost(t, ['10.0.0.0/8'], spoof), { logged: '127.0.0.1', ip: '127.0.0.1' });
  // No --trusted-proxy at all (the default).
  assert.deepEqual(await loggedHost(t, undefined, spoof), { logged: '127.0.0.1', ip: '127.0.0.1' });
});
