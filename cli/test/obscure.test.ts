import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { Readable } from 'node:stream';
import { runObscure } from '../src/commands/obscure.js';
import { runCli } from './helpers.js';
import { pyReveal } from '../../core/test/vaultconfig.js';

const OBSCURED = /^[A-Za-z0-9_-]+\n$/;

/** `obscure ...` in this process: its output, or the error it throws. */
async function obscure(args: string[], stdin = ''): Promise<string> {
  let out = '';
  const code = await runObscure(args, { stdin: Readable.from([Buffer.from(stdin)]), out: (t) => { out += t; }, err: () => {} });
  assert.equal(code, 0);
  assert.match(out, OBSCURED);
  return out.trimEnd();
}

test('obscure VALUE prints a value PyRestServer reveals, taken exactly as typed', async () => {
  const values = ['my-api-key', '0123', 'with spaces and ünïcödé'];
  const outputs = await Promise.all(values.map((v) => obscure([v])));
  assert.deepEqual(pyReveal(outputs), values);
  assert.deepEqual(pyReveal([await obscure(['--', '-starts-with-dash'])]), ['-starts-with-dash']);
});

test('obscure reads standard input without VALUE and drops one trailing newline only', async () => {
  const inputs = ['from-stdin\n', 'two-newlines\n\n', 'crlf\r\n', 'no-newline'];
  const outputs = [];
  for (const input of inputs) outputs.push(await obscure([], input));
  assert.deepEqual(pyReveal(outputs), ['from-stdin', 'two-newlines\n', 'crlf', 'no-newline']);
});

test('obscure refuses an empty value, several values and flags', async () => {
  for (const [args, stdin] of [[[], ''], [[], '\n'], [['a', 'b'], ''], [['--reveal', 'x'], '']] as const) {
    await assert.rejects(obscure([...args], stdin), { code: 'PYRS_USAGE' }, JSON.stringify(args));
  }
});

test('a value starting with a dash given without -- is refused without being repeated (it is a secret)', async () => {
  for (const value of ['-Secret-value', '--secret-value']) {
    await assert.rejects(obscure([value]), (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'PYRS_USAGE');
      assert.ok(!`${err.message}\n${err.hint}`.includes('ecret'), `the value was repeated: ${err.message} ${err.hint}`);
      assert.match(`${err.message}\n${err.hint}`, /obscure -- /);
      return true;
    });
  }
});

test('the command line: a piped value is obscured; a usage error exits 2', async () => {
  const piped = await runCli(['obscure'], { cwd: os.tmpdir(), input: 'piped-secret\n' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stdout, OBSCURED);
  assert.deepEqual(pyReveal([piped.stdout.trimEnd()]), ['piped-secret']);
  const empty = await runCli(['obscure', ''], { cwd: os.tmpdir() });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /\[PYRS_USAGE\]: obscure: the value is empty/);
});
