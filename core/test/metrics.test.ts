import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { basic, blob, htpasswd, startServer, tempDir, upload } from './security-support.js';

const post = upload;

/** The value of one sample line, e.g. `rest_server_blob_write_total{user="",repo="r",type="data"}`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const parts = inner.split(',');
    if (wanted.every((w) => parts.includes(w)) && parts.length === wanted.length) return Number(line.split(' ').pop());
  }
  return undefined;
}

async function authServer(t: TestContext, extra = {}) {
  const file = join(await tempDir(t), '.htpasswd');
  htpasswd(file, 'alice', 'alice-pw', '-s', true);
  htpasswd(file, 'metrics', 'metrics-pw', '-s');
  return startServer(t, { auth: { kind: 'htpasswd', file }, prometheus: true, ...extra });
}

test('/metrics counts blob writes, reads and deletes with rest-server names and labels', async (t) => {
  const { url, provider } = await startServer(t, { prometheus: true });
  await provider.createRepository('r/sub');
  const a = blob('first blob');
  const b = blob('second, longer blob');
  assert.equal((await post(`${url}/r/sub/data/${a.name}`, a.body)).status, 200);
  assert.equal((await post(`${url}/r/sub/data/${b.name}`, b.body)).status, 200);
  assert.equal((await post(`${url}/r/sub/config`, Buffer.from('cfg'))).status, 200);
  assert.equal(await (await fetch(`${url}/r/sub/data/${a.name}`)).text(), 'first blob');
  assert.equal((await fetch(`${url}/r/sub/data/${b.name}`, { headers: { range: 'bytes=0-5' } })).status, 206);
  assert.equal((await fetch(`${url}/r/sub/data/${a.name}`, { method: 'DELETE' })).status, 200);

  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const l = { user: '', repo: 'r/sub', type: 'data' };
  assert.equal(sample(text, 'rest_server_blob_write_total', l), 2);
  assert.equal(sample(text, 'rest_server_blob_write_bytes_total', l), a.body.length + b.body.length);
  assert.equal(sample(text, 'rest_server_blob_read_total', l), 2);
  assert.equal(sample(text, 'rest_server_blob_read_bytes_total', l), a.body.length + 6);
  assert.equal(sample(text, 'rest_server_blob_delete_total', l), 1);
  assert.equal(sample(text, 'rest_server_blob_delete_bytes_total', l), a.body.length);
  // config is not a blob (as in rest-server); process metrics are there.
  assert.equal(sample(text, 'rest_server_blob_write_total', { ...l, type: 'config' }), undefined);
  assert.match(text, /^# HELP rest_server_blob_write_total Total number of blobs written$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);
});

test('two servers in one process count apart (a registry each)', async (t) => {
  const one = await startServer(t, { prometheus: true });
  const two = await startServer(t, { prometheus: true });
  await one.provider.createRepository('r');
  const a = blob('x');
  await post(`${one.url}/r/data/${a.name}`, a.body);
  const l = { user: '', repo: 'r', type: 'data' };
  assert.equal(sample(await (await fetch(`${one.url}/metrics`)).text(), 'rest_server_blob_write_total', l), 1);
  assert.equal(sample(await (await fetch(`${two.url}/metrics`)).text(), 'rest_server_blob_write_total', l), undefined);
});

test('without --prometheus there is no /metrics route', async (t) => {
  const { url } = await startServer(t);
  assert.equal((await fetch(`${url}/metrics`)).status, 404);
});

test('/metrics needs authentication; the user label is the authenticated user', async (t) => {
  const { url, provider } = await authServer(t);
  assert.equal((await fetch(`${url}/metrics`)).status, 401);
  await provider.createRepository('alice');
  const a = blob('alice data');
  const alice = { authorization: basic('alice', 'alice-pw') };
  assert.equal((await post(`${url}/alice/data/${a.name}`, a.body, alice)).status, 200);
  const res = await fetch(`${url}/metrics`, { headers: alice });
  assert.equal(res.status, 200);
  assert.equal(sample(await res.text(), 'rest_server_blob_write_total', { user: 'alice', repo: 'alice', type: 'data' }), 1);
});

test('with private repos only the user "metrics" may read /metrics', async (t) => {
  const { url } = await authServer(t, { privateRepos: true });
  assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: basic('alice', 'alice-pw') } })).status, 401);
  assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: basic('metrics', 'metrics-pw') } })).status, 200);
});

test('--prometheus-no-auth opens /metrics and nothing else', async (t) => {
  const { url } = await authServer(t, { privateRepos: true, prometheusNoAuth: true });
  assert.equal((await fetch(`${url}/metrics`)).status, 200);
  assert.equal((await fetch(`${url}/metrics/config`)).status, 401);
  assert.equal((await fetch(`${url}/alice/config`)).status, 401);
});
