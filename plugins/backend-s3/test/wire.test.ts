/**
 * Our own S3 requests (signer.ts, wire.ts): signatures as AWS documents them, keys and
 * prefixes that need escaping against the real RGW, the SDK's credential chain, and the
 * size cache that answers HEAD (counted at a proxy in front of RGW).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StorageErrorCode } from '@pyrestserver/core';
import { createS3Provider } from '../src/index.js';
import { parseListPage, unescapeXml } from '../src/list-xml.js';
import { canonicalQuery, EMPTY_SHA256, encodeKey, Signer } from '../src/signer.js';
import { SizeCache } from '../src/size-cache.js';
import { bodyOf, randomBlob, readAll } from './support/blobs.js';
import { CountingProxy } from './support/counting-proxy.js';
import { s3Env, tempBucket } from './support/rgw.js';
import { capturingLogger, optionsFor, startHarness } from './support/setup.js';

const notFound = (err: unknown) => (err as { code?: string }).code === StorageErrorCode.NOT_FOUND;

describe('SigV4 signatures (the examples of the S3 API reference, "Signature Calculations for the Authorization Header")', () => {
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const at = Date.UTC(2013, 4, 24);
  const signed = (path: string, query: Record<string, string>) => {
    const headers: Record<string, string> = { host: 'examplebucket.s3.amazonaws.com' };
    new Signer('us-east-1', async () => credentials).sign(credentials, 'GET', path, canonicalQuery(query), headers, EMPTY_SHA256, at);
    return headers;
  };

  it('GET Bucket lifecycle', () => {
    const headers = signed('/', { lifecycle: '' });
    assert.equal(headers['x-amz-date'], '20130524T000000Z');
    assert.equal(
      headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    );
  });

  it('GET Bucket (list objects), query sorted', () => {
    const headers = signed('/', { prefix: 'J', 'max-keys': '2' });
    assert.match(headers.authorization!, /Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
  });

  it('escapes keys byte by byte, keeping only unreserved characters and /', () => {
    assert.equal(encodeKey("a b/c+d&e=f!g'h(i)j*k~l_m.n-o/ü"), "a%20b/c%2Bd%26e%3Df%21g%27h%28i%29j%2Ak~l_m.n-o/%C3%BC");
    assert.equal(canonicalQuery({ 'continuation-token': 'a/b=c+', 'list-type': '2' }), 'continuation-token=a%2Fb%3Dc%2B&list-type=2');
  });

  it('asks the credential source again before temporary credentials expire, once for many requests', async () => {
    let asked = 0;
    const signer = new Signer('us-east-1', async () => {
      asked++;
      return { ...credentials, expiration: new Date(Date.now() + (asked === 1 ? 60_000 : 3_600_000)) };
    });
    await Promise.all([signer.credentials(), signer.credentials(), signer.credentials()]);
    assert.equal(asked, 1, 'one request to the chain for three at once');
    // The first ones expire within the refresh margin: asked again.
    await signer.credentials();
    assert.equal(asked, 2);
    await signer.credentials();
    assert.equal(asked, 2, 'fresh credentials are kept');
  });
});

describe('ListObjectsV2 replies', () => {
  it('reads keys, sizes, prefixes and the continuation token, unescaping entities', () => {
    const page = parseListPage(
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p&amp;q/</Prefix>' +
        '<IsTruncated>true</IsTruncated><NextContinuationToken>1/a&lt;b=</NextContinuationToken>' +
        '<Contents><Key>p&amp;q/a&#x20;b&#233;</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size></Contents>' +
        '<Contents><Key>p&amp;q/c</Key><Size>0</Size></Contents><CommonPrefixes><Prefix>p&amp;q/d/</Prefix></CommonPrefixes></ListBucketResult>',
    );
    assert.deepEqual(page, { objects: [{ key: 'p&q/a bé', size: 12 }, { key: 'p&q/c', size: 0 }], prefixes: ['p&q/d/'], next: '1/a<b=' });
    assert.equal(unescapeXml('&apos;&quot;&gt;&#38;amp;'), `'">&amp;`);
  });

  it('refuses replies it cannot read instead of listing less', () => {
    assert.throws(() => parseListPage('<Error><Code>x</Code></Error>'), /not a ListBucketResult/);
    assert.throws(() => parseListPage('<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>'), /without Key or Size/);
    assert.throws(() => parseListPage('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'), /NextContinuationToken/);
  });
});

describe('keys that need escaping, against the real RGW', () => {
  it("a prefix with spaces, '+', '&', '=', '!', quotes, parentheses, '*' and non-ASCII: write, HEAD, ranged GET, list, delete", async () => {
    const prefix = "odd prefix/ü+&=!'(x)*~";
    const h = await startHarness('odd', { prefix });
    try {
      await h.provider.createRepository('r e/p');
      const blob = randomBlob(70_000);
      await h.provider.write(blob.ref('r e/p'), bodyOf(blob.data), blob.data.length);
      const small = randomBlob(100);
      await h.provider.write(small.ref('r e/p', 'index'), bodyOf(small.data), 100);
      assert.deepEqual(await h.provider.stat(small.ref('r e/p', 'index')), { size: 100 });
      assert.deepEqual(await readAll(h.provider, blob.ref('r e/p')), blob.data);
      const listed = [];
      for await (const f of h.provider.list('r e/p', 'data')) listed.push(f);
      assert.deepEqual(listed, [{ name: blob.name, size: 70_000 }]);
      const repos = [];
      for await (const r of h.provider.repositories!()) repos.push(r);
      assert.deepEqual(repos, ['r e/p']);
      await h.provider.delete(blob.ref('r e/p'));
      await assert.rejects(h.provider.stat(blob.ref('r e/p')), notFound);
    } finally {
      await h.close();
    }
  });
});

describe('connections go back to the pool', () => {
  it('with max_connections 2, forty requests of every kind in a row (found, missing, refused, empty replies) all complete', async () => {
    const h = await startHarness('pool', { max_connections: 2, stat_cache_ttl: 0 });
    try {
      const p = h.provider;
      await p.createRepository('r');
      const blob = randomBlob(500);
      await p.write(blob.ref('r'), bodyOf(blob.data), 500);
      for (let i = 0; i < 8; i++) {
        assert.deepEqual(await p.stat(blob.ref('r')), { size: 500 }, 'HEAD, found');
        await assert.rejects(p.stat(randomBlob(1).ref('r')), notFound, 'HEAD, missing');
        await assert.rejects(readAll(p, randomBlob(1).ref('r')), notFound, 'GET, missing');
        await assert.rejects(p.write(blob.ref('r'), bodyOf(randomBlob(500).data), 500), (e: { code?: string }) => e.code === StorageErrorCode.ALREADY_EXISTS, 'PUT, refused');
        await p.delete(randomBlob(1).ref('r'));
      }
    } finally {
      await h.close();
    }
  });
});

describe('credentials from the AWS SDK chain', () => {
  it('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment sign our requests when no keys are given', async () => {
    const env = s3Env();
    const store = await tempBucket('chain', env);
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = env.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = env.secretAccessKey;
    try {
      const { access_key_id: _a, secret_access_key: _s, ...rest } = optionsFor(env, store.bucket);
      const provider = await createS3Provider(rest, { logger: capturingLogger([]) });
      try {
        await provider.createRepository('r');
        const blob = randomBlob(1000);
        await provider.write(blob.ref('r'), bodyOf(blob.data), 1000);
        assert.deepEqual(await readAll(provider, blob.ref('r')), blob.data);
      } finally {
        await provider.close();
      }
    } finally {
      for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await store.destroy();
    }
  });
});

describe('HEAD answered from the sizes seen (counted at a proxy in front of RGW)', () => {
  let proxy: CountingProxy;
  before(async () => {
    proxy = await CountingProxy.start(s3Env().endpoint);
  });
  after(() => proxy?.close());

  it('after a write, a read or a listing, HEAD costs no request; after a delete it asks the store', async () => {
    const h = await startHarness('sizes', { endpoint: proxy.url });
    try {
      const p = h.provider;
      await p.createRepository('r');
      const [a, b, c] = [randomBlob(10), randomBlob(20), randomBlob(30)];
      proxy.reset();
      await p.write(a.ref('r'), bodyOf(a.data), 10);
      assert.deepEqual(await p.stat(a.ref('r')), { size: 10 });
      assert.deepEqual(proxy.counts, { PutObject: 1 }, 'written: no HEAD');
      // Objects another writer put there: seen by a listing, or by a read.
      const other = await createS3Provider(optionsFor(h.env, h.bucket, { endpoint: proxy.url }), { logger: capturingLogger([]) });
      try {
        await other.write(b.ref('r'), bodyOf(b.data), 20);
        await other.write(c.ref('r', 'keys'), bodyOf(c.data), 30);
        proxy.reset();
        for await (const _ of p.list('r', 'data')) void _;
        assert.deepEqual(await p.stat(b.ref('r')), { size: 20 });
        await readAll(p, c.ref('r', 'keys'));
        assert.deepEqual(await p.stat(c.ref('r', 'keys')), { size: 30 });
        assert.deepEqual(proxy.counts, { ListObjectsV2: 1, GetObject: 1 }, 'listed and read: no HEAD');
        proxy.reset();
        await p.delete(a.ref('r'));
        await assert.rejects(p.stat(a.ref('r')), notFound);
        await assert.rejects(p.stat(a.ref('r')), notFound);
        assert.deepEqual(proxy.counts, { DeleteObject: 1, HeadObject: 2 }, 'absence is never kept');
        // Written by the other instance after this one found it missing: found at once.
        await other.write(a.ref('r'), bodyOf(a.data), 10);
        assert.deepEqual(await p.stat(a.ref('r')), { size: 10 });
      } finally {
        await other.close();
      }
    } finally {
      await h.close();
    }
  });

  it('a size kept is stale after another instance deleted the object for at most stat_cache_ttl; 0 asks every time', async () => {
    const h = await startHarness('ttl', { endpoint: proxy.url, stat_cache_ttl: 400 });
    const never = await createS3Provider(optionsFor(h.env, h.bucket, { endpoint: proxy.url, stat_cache_ttl: 0 }), { logger: capturingLogger([]) });
    try {
      await h.provider.createRepository('r');
      const blob = randomBlob(50);
      await h.provider.write(blob.ref('r'), bodyOf(blob.data), 50);
      proxy.reset();
      assert.deepEqual(await never.stat(blob.ref('r')), { size: 50 });
      assert.deepEqual(await never.stat(blob.ref('r')), { size: 50 });
      assert.deepEqual(proxy.counts, { HeadObject: 2 }, 'stat_cache_ttl 0: every HEAD asks the store');
      await never.delete(blob.ref('r'));
      // The writer still has the size (the documented window), until its time is up.
      assert.deepEqual(await h.provider.stat(blob.ref('r')), { size: 50 });
      await new Promise((ok) => setTimeout(ok, 450));
      await assert.rejects(h.provider.stat(blob.ref('r')), notFound);
    } finally {
      await never.close();
      await h.close();
    }
  });

  it('the cache: bounded, oldest first out, and a size learnt across a delete is not kept', () => {
    const cache = new SizeCache(60_000, 2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('c'), 3);
    const before = cache.deletes;
    cache.delete('x');
    cache.set('x', 9, before);
    assert.equal(cache.get('x'), undefined, 'a HEAD sent before a delete of its key could report the deleted object');
    cache.set('x', 9, cache.deletes);
    assert.equal(cache.get('x'), 9);
    assert.equal(cache.get('x', Date.now() + 60_001), undefined, 'expired');
  });
});
