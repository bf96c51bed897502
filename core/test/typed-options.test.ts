/**
 * defineBackend types `create`'s options from the schema. The checks are compile-time
 * (`tsc` over this file, run by the test below); the runtime part checks the descriptor.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defineBackend, type OptionsOf, type StorageProvider } from '../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const expectType = <T extends true>(_: T) => {};

let seen: unknown;
const plugin = defineBackend({
  type: 'typed',
  optionsSchema: {
    type: 'object',
    properties: {
      bucket: { type: 'string', minLength: 1 },
      region: { type: 'string', default: 'us-east-1' },
      port: { type: 'integer' },
      tier: { type: 'string', enum: ['hot', 'cold'] },
      tags: { type: 'array', items: { type: 'string' } },
      path_style: { type: 'boolean', default: false },
      id: { type: ['string', 'integer'] },
    },
    required: ['bucket'],
    additionalProperties: false,
  },
  create(options) {
    expectType<Equal<typeof options, {
      bucket: string;
      region: string;
      path_style: boolean;
      port?: number;
      tier?: 'hot' | 'cold';
      tags?: string[];
      id?: string | number;
    }>>(true);
    // @ts-expect-error: not an option of the schema
    void options.bukket;
    seen = options;
    return {} as StorageProvider;
  },
});

const schema = { type: 'object', properties: { root: { type: 'string' } }, required: ['root'] } as const;
expectType<Equal<OptionsOf<typeof schema>, { root: string }>>(true);

// An options type written by hand still works.
interface HandWritten { root: string }
const byHand = defineBackend<HandWritten>({
  type: 'byhand',
  optionsSchema: { type: 'object', properties: { root: { type: 'string' } } },
  create(options) {
    expectType<Equal<typeof options, HandWritten>>(true);
    return {} as StorageProvider;
  },
});

test('defineBackend: the descriptor is complete whichever form is used', async () => {
  assert.equal(plugin.kind, 'pyrestserver-backend');
  assert.equal(byHand.apiVersion, 1);
  await plugin.create({ bucket: 'b', region: 'r', path_style: false }, {} as never);
  assert.deepEqual(seen, { bucket: 'b', region: 'r', path_style: false });
});

test('the types of this file check (tsc --noEmit)', async () => {
  const tsc = fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url));
  const file = fileURLToPath(import.meta.url);
  await promisify(execFile)(tsc, ['--noEmit', '-p', fileURLToPath(new URL('./tsconfig.typecheck.json', import.meta.url))], { timeout: 120_000 })
    .catch((err: { stdout?: string }) => assert.fail(`tsc failed on ${file}:\n${err.stdout ?? String(err)}`));
});
