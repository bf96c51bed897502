/**
 * The StorageProvider conformance suite: every behaviour of the contract in `types.ts`,
 * as `node:test` tests, so a backend plugin checks itself with no test framework.
 *
 * ```ts
 * // my-backend/test/conformance.test.ts   (run: node --test)
 * import { runConformanceSuite } from '@pyrestserver/core/conformance';
 * import { MyProvider } from '../src/provider.js';
 *
 * runConformanceSuite('my-backend', async () => {
 *   const store = await makeEmptyStore();
 *   return { provider: new MyProvider(store), cleanup: () => store.destroy() };
 * }, { largeBlobSize: 16 * 1024 * 1024 });
 * ```
 *
 * `setup` is called once for the suite and once more for the `close()` test; each call
 * must give a provider over an empty store. Tests use their own repositories (random
 * names), so they never depend on each other. The suite uses only the StorageProvider
 * interface and error codes, never a backend's internals.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { PassThrough, Readable } from 'node:stream';
import { StorageErrorCode, storageCodeOf } from '../errors.js';
import { receiveUpload } from '../protocol/upload.js';
import { BLOB_TYPES, type BlobType, type FileInfo, type FileRef, type StorageProvider } from './types.js';

export interface ConformanceSetup {
  /** A provider over an empty store. */
  provider: StorageProvider;
  /** Remove the store (temporary folder, emulator, ...). Called after `provider.close()`. */
  cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Files written for each listing test (`data`, `index`); above a paginating backend's page size. Default 300. */
  listCount?: number;
  /** Size of the streamed large-blob test in bytes; 0 leaves that test out. Default 64 MiB. */
  largeBlobSize?: number;
  /** Uploads of one name started at once in the concurrency test. Default 4. */
  concurrentWriters?: number;
  /** Per-test timeout in ms. Default 60,000. */
  timeout?: number;
  /**
   * Bytes sent of an upload that is then held open (or fails) in the atomicity tests: past
   * what a backend may buffer before it starts writing. Default 6 MiB.
   */
  inFlightSize?: number;
}

/** Register the conformance tests for one backend under `describe(name)`. */
export function runConformanceSuite(
  name: string,
  setup: () => Promise<ConformanceSetup>,
  options: ConformanceOptions = {},
): void {
  const listCount = options.listCount ?? 300;
  const largeBlobSize = options.largeBlobSize ?? 64 * 1024 * 1024;
  const writers = options.concurrentWriters ?? 4;
  const timeout = options.timeout ?? 60_000;
  const inFlight = options.inFlightSize ?? 6 * 1024 * 1024;

  /** Each test gets the timeout of its own (a suite-level timeout would bound the sum). */
  const test = (title: string, fn: (t: TestContext) => Promise<void>) => it(title, { timeout }, fn);

  describe(`StorageProvider conformance: ${name}`, () => {
    let store: ConformanceSetup;
    let p: StorageProvider;
    /** A fresh, created repository. */
    const newRepo = async (prefix = 'repo') => {
      const repo = `${prefix}-${randomBytes(6).toString('hex')}`;
      await p.createRepository(repo);
      return repo;
    };

    before(async () => {
      store = await setup();
      p = store.provider;
    });
    after(async () => {
      await p?.close?.();
      await store?.cleanup?.();
    });

    describe('repositories', () => {
      test('createRepository makes a repository that repositoryExists reports', async () => {
        const repo = `repo-${randomBytes(6).toString('hex')}`;
        assert.equal(await p.repositoryExists(repo), false, 'exists before createRepository');
        await p.createRepository(repo);
        assert.equal(await p.repositoryExists(repo), true);
      });

      test('createRepository is idempotent and keeps existing files', async () => {
        const repo = await newRepo();
        const blob = blobOf(Buffer.from('kept'));
        await p.write(blob.ref(repo, 'keys'), bodyOf(blob.data), blob.data.length);
        await p.createRepository(repo);
        assert.equal(await p.repositoryExists(repo), true);
        assert.deepEqual(await readAll(p, blob.ref(repo, 'keys')), blob.data);
      });

      test('nested repository paths work (a/b)', async () => {
        const repo = `outer-${randomBytes(4).toString('hex')}/inner`;
        await p.createRepository(repo);
        assert.equal(await p.repositoryExists(repo), true);
        const blob = blobOf(Buffer.from('nested'));
        await p.write(blob.ref(repo, 'data'), bodyOf(blob.data), blob.data.length);
        assert.deepEqual(await readAll(p, blob.ref(repo, 'data')), blob.data);
        assert.deepEqual(await listAll(p, repo, 'data'), [{ name: blob.name, size: blob.data.length }]);
      });

      test('repositories() yields every initialised repository once', async (t) => {
        if (!p.repositories) return t.skip('optional: provider has no repositories()');
        const repos = [await newRepo('enum'), `enum-${randomBytes(4).toString('hex')}/sub`];
        await p.createRepository(repos[1]!);
        for (const repo of repos) await writeConfig(p, repo, 'cfg');
        const seen: string[] = [];
        for await (const repo of p.repositories()) seen.push(repo);
        for (const repo of repos) assert.equal(seen.filter((r) => r === repo).length, 1, `${repo} in ${JSON.stringify(seen)}`);
        for (const repo of seen) assert.ok(!repo.startsWith('/') && !repo.endsWith('/'), `malformed path ${repo}`);
      });
    });

    describe('missing repository and missing files', () => {
      const ghost = () => `missing-${randomBytes(6).toString('hex')}`;

      test('stat, read and list of a missing repository throw NOT_FOUND', async () => {
        const repo = ghost();
        const ref = blobOf(Buffer.from('x')).ref(repo, 'data');
        await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, 'stat');
        await expectCode(p.read(ref), StorageErrorCode.NOT_FOUND, 'read');
        await expectCode(p.stat(configRef(repo)), StorageErrorCode.NOT_FOUND, 'stat config');
        for (const type of BLOB_TYPES) await expectCode(listAll(p, repo, type), StorageErrorCode.NOT_FOUND, `list ${type}`);
      });

      test('write into a missing repository throws NOT_FOUND and creates nothing', async () => {
        const repo = ghost();
        const blob = blobOf(Buffer.from('orphan'));
        await expectCode(p.write(blob.ref(repo, 'data'), bodyOf(blob.data), blob.data.length), StorageErrorCode.NOT_FOUND, 'write');
        await expectCode(p.write(configRef(repo), bodyOf(blob.data), blob.data.length), StorageErrorCode.NOT_FOUND, 'write config');
        assert.equal(await p.repositoryExists(repo), false);
      });

      test('delete in a missing repository resolves or throws NOT_FOUND', async () => {
        const ref = blobOf(Buffer.from('x')).ref(ghost(), 'keys');
        try {
          await p.delete(ref);
        } catch (err) {
          assert.equal(storageCodeOf(err), StorageErrorCode.NOT_FOUND, `delete threw ${describeErr(err)}`);
        }
      });

      test('stat and read of a missing file throw NOT_FOUND, for every type and config', async () => {
        const repo = await newRepo();
        for (const type of BLOB_TYPES) {
          const ref = blobOf(Buffer.from(type)).ref(repo, type);
          await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, `stat ${type}`);
          await expectCode(p.read(ref), StorageErrorCode.NOT_FOUND, `read ${type}`);
          await expectCode(p.read(ref, { start: 0, end: 0 }), StorageErrorCode.NOT_FOUND, `ranged read ${type}`);
        }
        await expectCode(p.stat(configRef(repo)), StorageErrorCode.NOT_FOUND, 'stat config');
        await expectCode(p.read(configRef(repo)), StorageErrorCode.NOT_FOUND, 'read config');
      });

      test('a new repository lists nothing, for every type', async () => {
        const repo = await newRepo();
        for (const type of BLOB_TYPES) assert.deepEqual(await listAll(p, repo, type), [], type);
      });
    });

    describe('config', () => {
      test('is written once, read back, and never overwritten', async () => {
        const repo = await newRepo();
        const first = randomBytes(155);
        await p.write(configRef(repo), bodyOf(first), first.length);
        assert.deepEqual(await p.stat(configRef(repo)), { size: first.length });
        assert.deepEqual(await readAll(p, configRef(repo)), first);
        const second = randomBytes(155);
        await expectCode(p.write(configRef(repo), bodyOf(second), second.length), StorageErrorCode.ALREADY_EXISTS, 'second write');
        assert.deepEqual(await readAll(p, configRef(repo)), first, 'config changed by a refused write');
      });

      test('is not listed as a file of any type', async () => {
        const repo = await newRepo();
        await writeConfig(p, repo, 'config body');
        for (const type of BLOB_TYPES) assert.deepEqual(await listAll(p, repo, type), [], type);
      });

      test('can be deleted', async () => {
        const repo = await newRepo();
        await writeConfig(p, repo, 'doomed');
        await p.delete(configRef(repo));
        await expectCode(p.stat(configRef(repo)), StorageErrorCode.NOT_FOUND, 'stat after delete');
      });
    });

    describe('write and read', () => {
      test('round-trips a file of every type (stat, read, list)', async () => {
        const repo = await newRepo();
        for (const type of BLOB_TYPES) {
          const blob = blobOf(randomBytes(1000 + type.length));
          await p.write(blob.ref(repo, type), bodyOf(blob.data, 100), blob.data.length);
          assert.deepEqual(await p.stat(blob.ref(repo, type)), { size: blob.data.length }, `stat ${type}`);
          assert.deepEqual(await readAll(p, blob.ref(repo, type)), blob.data, `read ${type}`);
          assert.deepEqual(await listAll(p, repo, type), [{ name: blob.name, size: blob.data.length }], `list ${type}`);
        }
      });

      test('stores an empty file', async () => {
        const repo = await newRepo();
        const blob = blobOf(Buffer.alloc(0));
        await p.write(blob.ref(repo, 'locks'), bodyOf(blob.data), 0);
        assert.deepEqual(await p.stat(blob.ref(repo, 'locks')), { size: 0 });
        assert.deepEqual(await readAll(p, blob.ref(repo, 'locks')), Buffer.alloc(0));
      });

      test('reads byte ranges: first byte, middle, last byte, tail, whole', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(10_000));
        const ref = blob.ref(repo, 'data');
        await p.write(ref, bodyOf(blob.data, 3000), blob.data.length);
        const last = blob.data.length - 1;
        for (const [start, end] of [[0, 0], [1234, 5678], [last, last], [4096, last], [0, last], [0, 4095]] as const) {
          assert.deepEqual(await readAll(p, ref, { start, end }), blob.data.subarray(start, end + 1), `range ${start}-${end}`);
        }
      });

      test('refuses to overwrite: ALREADY_EXISTS, existing content untouched', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(500));
        await p.write(blob.ref(repo, 'snapshots'), bodyOf(blob.data), blob.data.length);
        const other = randomBytes(700);
        await expectCode(p.write(blob.ref(repo, 'snapshots'), bodyOf(other), other.length), StorageErrorCode.ALREADY_EXISTS, 'overwrite');
        assert.deepEqual(await readAll(p, blob.ref(repo, 'snapshots')), blob.data);
        assert.deepEqual(await listAll(p, repo, 'snapshots'), [{ name: blob.name, size: blob.data.length }]);
      });

      test('an in-flight upload is invisible until it completes', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(64 * 1024));
        const body = new PassThrough();
        const writing = p.write(blob.ref(repo, 'index'), body, blob.data.length);
        body.write(blob.data.subarray(0, 32 * 1024));
        await settle();
        await expectCode(p.stat(blob.ref(repo, 'index')), StorageErrorCode.NOT_FOUND, 'stat while writing');
        assert.deepEqual(await listAll(p, repo, 'index'), [], 'listed while writing');
        body.end(blob.data.subarray(32 * 1024));
        await writing;
        assert.deepEqual(await readAll(p, blob.ref(repo, 'index')), blob.data);
      });

      test('an upload stays invisible after several MiB were sent, while its body is held open', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(inFlight + 1024 * 1024));
        const ref = blob.ref(repo, 'data');
        const body = new PassThrough({ highWaterMark: 64 * 1024 });
        let done = false;
        const writing = p.write(ref, body, blob.data.length).finally(() => (done = true));
        await sendHeld(body, blob.data.subarray(0, inFlight));
        // Held open: looked at several times, as a client would while the upload streams.
        for (let i = 0; i < 5; i++) {
          await settle();
          await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, `stat after ${inFlight} bytes of an upload in flight`);
          await expectCode(p.read(ref), StorageErrorCode.NOT_FOUND, `read after ${inFlight} bytes of an upload in flight`);
          assert.deepEqual(await listAll(p, repo, 'data'), [], 'listed while in flight');
          assert.equal(done, false, 'write() settled before its body ended');
        }
        body.end(blob.data.subarray(inFlight));
        await writing;
        assert.deepEqual(await readAll(p, ref), blob.data);
      });
    });

    describe('failed uploads store nothing', () => {
      /** Nothing left: once the provider has settled, and again after a short wait (late writes). */
      const assertAbsent = async (repo: string, type: BlobType, ref: FileRef, label: string) => {
        for (const when of ['once settled', 'after a short wait']) {
          await (when === 'once settled' ? settle() : sleep(300));
          await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, `stat after ${label}, ${when}`);
          await expectCode(p.read(ref), StorageErrorCode.NOT_FOUND, `read after ${label}, ${when}`);
          assert.deepEqual(await listAll(p, repo, type), [], `listed after ${label}, ${when}`);
        }
      };

      test('a body that fails after several MiB leaves nothing behind, and a retry succeeds', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(inFlight + 512 * 1024));
        const ref = blob.ref(repo, 'data');
        const boom = new Error('client went away');
        await assert.rejects(p.write(ref, failingBody(blob.data.subarray(0, inFlight), boom), blob.data.length));
        await assertAbsent(repo, 'data', ref, `a body that failed after ${inFlight} bytes`);
        await p.write(ref, bodyOf(blob.data, 256 * 1024), blob.data.length);
        assert.deepEqual(await readAll(p, ref), blob.data, 'retry');
      });

      test('body errors mid-way: write rejects with that error, nothing visible, a retry succeeds', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(256 * 1024));
        const ref = blob.ref(repo, 'data');
        const boom = new Error('client went away');
        await assert.rejects(p.write(ref, failingBody(blob.data.subarray(0, 100_000), boom), blob.data.length), (err) => {
          assert.ok(err === boom || (err as Error).cause === boom, `rejected with ${describeErr(err)}, not the body's error`);
          return true;
        });
        await assertAbsent(repo, 'data', ref, 'a failed body');
        await p.write(ref, bodyOf(blob.data, 10_000), blob.data.length);
        assert.deepEqual(await readAll(p, ref), blob.data, 'retry');
      });

      test('short body: INCOMPLETE_BODY, nothing stored, a retry succeeds', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(5000));
        const ref = blob.ref(repo, 'keys');
        await expectCode(p.write(ref, bodyOf(blob.data.subarray(0, 4999)), blob.data.length), StorageErrorCode.INCOMPLETE_BODY, 'short body');
        await assertAbsent(repo, 'keys', ref, 'a short body');
        await p.write(ref, bodyOf(blob.data), blob.data.length);
        assert.deepEqual(await readAll(p, ref), blob.data, 'retry');
      });

      test('long body: INCOMPLETE_BODY, nothing stored', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(5000));
        const ref = blob.ref(repo, 'locks');
        await expectCode(p.write(ref, bodyOf(Buffer.concat([blob.data, Buffer.from('extra')])), blob.data.length), StorageErrorCode.INCOMPLETE_BODY, 'long body');
        await assertAbsent(repo, 'locks', ref, 'a long body');
      });

      test('a failed config upload leaves no config behind', async () => {
        const repo = await newRepo();
        await expectCode(p.write(configRef(repo), bodyOf(Buffer.from('abc')), 10), StorageErrorCode.INCOMPLETE_BODY, 'short config');
        await expectCode(p.stat(configRef(repo)), StorageErrorCode.NOT_FOUND, 'stat config');
        await writeConfig(p, repo, 'now whole');
      });
    });

    describe("uploads whose bytes are not their name (core's digest check fails the body at its end)", () => {
      /** Empty, small, and past what a backend sends in one part or buffers before writing. */
      const sizes = [0, 5000, inFlight + 17];
      for (const size of sizes) {
        test(`a ${size}-byte upload whose bytes are not its name: DIGEST_MISMATCH, nothing stored, the right bytes then stored`, async () => {
          const repo = await newRepo();
          const blob = blobOf(randomBytes(size));
          const ref = blob.ref(repo, 'data');
          const wrong = Buffer.from(blob.data);
          if (size > 0) wrong[size >> 1] ^= 0x01;
          const sha256 = size > 0 ? blob.name : createHash('sha256').update('not empty').digest('hex');
          await expectCode(verifiedWrite(p, ref, bodyOf(wrong, 256 * 1024), size, sha256), StorageErrorCode.DIGEST_MISMATCH, 'wrong bytes');
          await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, 'stat after a digest mismatch');
          assert.deepEqual(await listAll(p, repo, 'data'), [], 'listed after a digest mismatch');
          if (size === 0) return;
          await verifiedWrite(p, ref, bodyOf(blob.data, 256 * 1024), size, sha256);
          assert.deepEqual(await readAll(p, ref), blob.data, 'the right bytes');
        });
      }

      test('uploads checked at once each get their own verdict', async () => {
        const repo = await newRepo();
        const blobs = Array.from({ length: 6 }, () => blobOf(randomBytes(2 * 1024 * 1024 + 1)));
        const results = await Promise.allSettled(
          blobs.map((b, i) => {
            const data = i % 2 === 0 ? b.data : Buffer.concat([b.data.subarray(1), b.data.subarray(0, 1)]);
            return verifiedWrite(p, b.ref(repo, 'data'), bodyOf(data, 64 * 1024), data.length, b.name);
          }),
        );
        results.forEach((r, i) => {
          if (i % 2 === 0) assert.equal(r.status, 'fulfilled', `upload ${i}: ${r.status === 'rejected' ? describeErr(r.reason) : ''}`);
          else assert.ok(r.status === 'rejected' && storageCodeOf(r.reason) === StorageErrorCode.DIGEST_MISMATCH, `upload ${i} should fail with DIGEST_MISMATCH`);
        });
        const listed = (await listAll(p, repo, 'data')).map((f) => f.name).sort();
        assert.deepEqual(listed, blobs.filter((_, i) => i % 2 === 0).map((b) => b.name).sort());
      });
    });

    test('concurrent uploads of one name: at most one succeeds, the file is never mixed', async () => {
      const repo = await newRepo();
      const name = blobOf(Buffer.from('race')).name;
      const ref: FileRef = { repo, type: 'data', name };
      const bodies = Array.from({ length: writers }, (_, i) => Buffer.alloc(200_000, 0x41 + i));
      const streams = bodies.map(() => new PassThrough());
      const results = Promise.allSettled(bodies.map((b, i) => p.write(ref, streams[i]!, b.length)));
      // Interleave the bodies chunk by chunk so the uploads really overlap.
      for (let off = 0; off < 200_000; off += 20_000) {
        streams.forEach((s, i) => s.write(bodies[i]!.subarray(off, off + 20_000)));
        await settle();
      }
      streams.forEach((s) => s.end());
      const outcome = await results;
      const won = outcome.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.ok(won.length <= 1, `${won.length} concurrent uploads of one name succeeded`);
      for (const r of outcome) {
        if (r.status === 'rejected') assert.equal(storageCodeOf(r.reason), StorageErrorCode.ALREADY_EXISTS, describeErr(r.reason));
      }
      if (won.length === 1) assert.ok((await readAll(p, ref)).equals(bodies[won[0]!]!), 'stored file is not the winning upload');
      else await expectCode(p.stat(ref), StorageErrorCode.NOT_FOUND, 'no upload won, yet a file exists');
    });

    describe('list', () => {
      for (const type of ['data', 'index'] as const) {
        test(`lists names and sizes of ${listCount} ${type} files, each once`, async () => {
          const repo = await newRepo();
          const blobs = Array.from({ length: listCount }, (_, i) => blobOf(Buffer.concat([Buffer.from(`${i}:`), randomBytes(i % 97)])));
          await inBatches(blobs, 16, (blob) => p.write(blob.ref(repo, type), bodyOf(blob.data), blob.data.length));
          const expected = blobs.map((b) => ({ name: b.name, size: b.data.length }));
          assert.deepEqual(sortByName(await listAll(p, repo, type)), sortByName(expected));
        });
      }

      test('lists each type separately', async () => {
        const repo = await newRepo();
        const written = new Map<BlobType, FileInfo[]>();
        for (const type of BLOB_TYPES) {
          const files = Array.from({ length: 3 }, (_, i) => blobOf(randomBytes(10 + i)));
          for (const f of files) await p.write(f.ref(repo, type), bodyOf(f.data), f.data.length);
          written.set(type, files.map((f) => ({ name: f.name, size: f.data.length })));
        }
        for (const type of BLOB_TYPES) assert.deepEqual(sortByName(await listAll(p, repo, type)), sortByName(written.get(type)!), type);
      });
    });

    describe('delete', () => {
      test('removes a file (stat NOT_FOUND, not listed) and is idempotent', async () => {
        const repo = await newRepo();
        const keep = blobOf(randomBytes(20));
        const doomed = blobOf(randomBytes(30));
        for (const b of [keep, doomed]) await p.write(b.ref(repo, 'locks'), bodyOf(b.data), b.data.length);
        await p.delete(doomed.ref(repo, 'locks'));
        await expectCode(p.stat(doomed.ref(repo, 'locks')), StorageErrorCode.NOT_FOUND, 'stat after delete');
        assert.deepEqual(await listAll(p, repo, 'locks'), [{ name: keep.name, size: keep.data.length }]);
        await p.delete(doomed.ref(repo, 'locks'));
        await p.delete(blobOf(Buffer.from('never written')).ref(repo, 'data'));
      });

      test('a deleted name can be written again', async () => {
        const repo = await newRepo();
        const blob = blobOf(randomBytes(40));
        await p.write(blob.ref(repo, 'data'), bodyOf(blob.data), blob.data.length);
        await p.delete(blob.ref(repo, 'data'));
        await p.write(blob.ref(repo, 'data'), bodyOf(blob.data), blob.data.length);
        assert.deepEqual(await readAll(p, blob.ref(repo, 'data')), blob.data);
      });
    });

    if (largeBlobSize > 0) {
      test(`streams a ${largeBlobSize}-byte blob in and out (SHA-256 checked, never held in memory)`, async () => {
        const repo = await newRepo();
        const source = generatedStream(largeBlobSize);
        const ref: FileRef = { repo, type: 'data', name: 'ab'.padEnd(64, '0') };
        await p.write(ref, source.stream, largeBlobSize);
        assert.deepEqual(await p.stat(ref), { size: largeBlobSize });
        assert.equal(await sha256Of(await p.read(ref)), source.digest(), 'content read back differs');
        const mid = Math.floor(largeBlobSize / 2);
        const tail = await readAll(p, ref, { start: mid, end: largeBlobSize - 1 });
        assert.equal(tail.length, largeBlobSize - mid, 'ranged read length');
      });
    }

    test("the root repository ('') works like any other", async () => {
      await p.createRepository('');
      assert.equal(await p.repositoryExists(''), true);
      const blob = blobOf(randomBytes(64));
      await p.write(blob.ref('', 'snapshots'), bodyOf(blob.data), blob.data.length);
      assert.deepEqual(await readAll(p, blob.ref('', 'snapshots')), blob.data);
      assert.deepEqual(await listAll(p, '', 'snapshots'), [{ name: blob.name, size: blob.data.length }]);
      await p.delete(blob.ref('', 'snapshots'));
    });

    test('close() resolves (on a provider of its own)', async () => {
      const own = await setup();
      try {
        const repo = `close-${randomBytes(4).toString('hex')}`;
        await own.provider.createRepository(repo);
        await writeConfig(own.provider, repo, 'before close');
        await own.provider.close?.();
      } finally {
        await own.cleanup?.();
      }
    });
  });
}

// ---- helpers -------------------------------------------------------------

/** A blob whose name is its SHA-256, as restic writes them. */
function blobOf(data: Buffer) {
  const name = createHash('sha256').update(data).digest('hex');
  return { data, name, ref: (repo: string, type: BlobType): FileRef => ({ repo, type, name }) };
}

const configRef = (repo: string): FileRef => ({ repo, type: 'config', name: 'config' });

async function writeConfig(p: StorageProvider, repo: string, text: string): Promise<void> {
  const data = Buffer.from(text);
  await p.write(configRef(repo), bodyOf(data), data.length);
}

/** An upload as core makes one: the body through core's byte count and SHA-256 check. */
function verifiedWrite(p: StorageProvider, ref: FileRef, body: Readable, size: number, sha256: string): Promise<void> {
  return receiveUpload(body, size, sha256, (checked) => p.write(ref, checked, size));
}

/** A body stream of `data` in chunks of `chunk` bytes. */
function bodyOf(data: Buffer, chunk = 16 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) chunks.push(data.subarray(off, off + chunk));
  return Readable.from(chunks, { objectMode: false });
}

/**
 * A body that sends `head` in chunks, then fails with `error` (a client hanging up
 * mid-upload) once the provider has read all of it.
 */
function failingBody(head: Buffer, error: Error, chunk = 256 * 1024): Readable {
  let off = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (off >= head.length) return void setImmediate(() => this.destroy(error));
      this.push(head.subarray(off, off + chunk));
      off += chunk;
    },
  });
}

/** A deterministic-length stream of random bytes with its SHA-256 computed on the way out. */
function generatedStream(size: number) {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (left === 0) return void this.push(null);
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(left, 1024 * 1024)));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.copy().digest('hex') };
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readAll(p: StorageProvider, ref: FileRef, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await p.read(ref, range)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listAll(p: StorageProvider, repo: string, type: BlobType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const { name, size } of p.list(repo, type)) out.push({ name, size });
  return out;
}

const sortByName = (files: FileInfo[]) => [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Let pending I/O callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Write `data` into `body` as a client sends it: in chunks, waiting while the provider has
 * not read what was sent (at most 2 s per wait: a provider may stop reading), never ending it.
 */
async function sendHeld(body: PassThrough, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += 256 * 1024) {
    if (!body.write(data.subarray(off, off + 256 * 1024))) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        body.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const describeErr = (err: unknown) =>
  err instanceof Error ? `${err.name} [${String((err as { code?: unknown }).code)}]: ${err.message}` : String(err);

/** Assert that `promise` rejects with a storage error of `code` (errno equivalents count). */
async function expectCode(promise: Promise<unknown>, code: StorageErrorCode, what: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.equal(storageCodeOf(err), code, `${what}: expected ${code}, got ${describeErr(err)}`);
    return;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}
