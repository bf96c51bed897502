/**
 * The real Ceph RGW the tests run against: the one whose S3_ENDPOINT, S3_ACCESS_KEY_ID and
 * S3_SECRET_ACCESS_KEY are in the environment (.ci/run starts it with shared/s3/ceph-rgw.sh),
 * or one started for a test (`startRgw`, for tests that kill the gateway). Tests fail, never
 * skip, without one. Each test works in a bucket of its own.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

const run = promisify(execFile);

export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** The RGW of the environment; throws (the test fails) when none is configured. */
export function s3Env(): S3Env {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    throw new Error(
      'these tests need a real S3 store: set S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY ' +
        '(eval "$(../shared/s3/ceph-rgw.sh start /tmp/rgw 7480)"; .ci/run does it)',
    );
  }
  return { endpoint: S3_ENDPOINT, accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY, region: S3_REGION ?? 'us-east-1' };
}

/** A plain SDK client on the store, for tests that look at the bucket directly. */
export function adminClient(env: S3Env = s3Env()): S3Client {
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

let counter = 0;
export const randomBucketName = (label: string) =>
  `pyrs-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);

/** Every key of a bucket (under a prefix). */
export async function allKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Bytes stored under a prefix. */
export async function bucketBytes(client: S3Client, bucket: string, prefix = ''): Promise<number> {
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) bytes += o.Size ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return bytes;
}

/** Multipart uploads not completed nor aborted. */
export async function openUploads(client: S3Client, bucket: string): Promise<{ Key: string; UploadId: string }[]> {
  const reply = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (reply.Uploads ?? []).map((u) => ({ Key: u.Key!, UploadId: u.UploadId! }));
}

/** A fresh bucket, and a function that empties and removes it (frees the OSD's memory). */
export async function tempBucket(label: string, env: S3Env = s3Env()) {
  const client = adminClient(env);
  const bucket = randomBucketName(label);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    client,
    async destroy() {
      try {
        for (const u of await openUploads(client, bucket)) {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
        }
        const keys = await allKeys(client, bucket);
        for (let i = 0; i < keys.length; i += 1000) {
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
      }
    },
  };
}

/** shared/s3/ceph-rgw.sh, beside the clone in CI (../shared) and on a developer's machine. */
export function rgwScript(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
  for (const candidate of [process.env.CEPH_RGW_SCRIPT, join(root, '../shared/s3/ceph-rgw.sh')]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error(`ceph-rgw.sh not found (looked in ${join(root, '../shared/s3')}; set CEPH_RGW_SCRIPT)`);
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  return port;
}

/** A Ceph cluster of our own (about 3 s), whose gateway a test may kill and start again. */
export async function startRgw(label: string) {
  const script = rgwScript();
  const dir = await mkdtemp(join(tmpdir(), `pyrs-rgw-${label}-`));
  const port = 17000 + Math.floor(Math.random() * 2000);
  const { stdout } = await run('bash', [script, 'start', join(dir, 'c'), String(port)], { timeout: 300_000 }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`ceph-rgw.sh start failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  const vars = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const env: S3Env = { endpoint: vars.S3_ENDPOINT!, accessKeyId: vars.S3_ACCESS_KEY_ID!, secretAccessKey: vars.S3_SECRET_ACCESS_KEY!, region: vars.S3_REGION ?? 'us-east-1' };
  const cluster = join(dir, 'c');
  const gatewayPid = async () => Number((await readFile(join(cluster, 'run', 'client.rgw.a.pid'), 'utf8')).trim());
  return {
    env,
    port,
    /** SIGKILL the radosgw process (mon and OSD keep the data). */
    async killGateway() {
      const pid = await gatewayPid();
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((ok) => setTimeout(ok, 50));
      }
    },
    /** Start radosgw again on the same port, and wait until it answers. */
    async startGateway() {
      await run('radosgw', ['-c', join(cluster, 'ceph.conf'), '-n', 'client.rgw.a'], { env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
      for (let i = 0; i < 600; i++) {
        const ok = await fetch(`${env.endpoint}/`).then((r) => r.status < 500, () => false);
        if (ok) return;
        await new Promise((done) => setTimeout(done, 100));
      }
      throw new Error('radosgw did not come back');
    },
    async stop() {
      await run('bash', [script, 'stop', cluster], { timeout: 120_000 }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
