import type { CAC } from 'cac';
import { parseArgs } from 'node:util';
import { obscure } from '@pyrestserver/core';
import { usageError } from '../errors.js';
import { argsAfter, terminal } from './raw-args.js';

export interface ObscureIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  out: (text: string) => void;
  err: (line: string) => void;
}

/** `pyrestserver obscure [VALUE]`: obscure a value for backends.toml, as PyRestServer does. */
export function registerObscure(cli: CAC): void {
  cli
    .command('obscure [value]', 'Obscure a value (e.g. an API key) for backends.toml, readable by PyRestServer too. Not encryption.')
    .usage('obscure [VALUE]\n\n  Without VALUE, reads it from standard input (one trailing newline is dropped).\n  Obscuring only hides a secret from a glance: anyone with this program can reveal it.')
    .example('pyrestserver obscure "my-api-key"')
    .example('printf %s "$DRIME_API_KEY" | pyrestserver obscure')
    .allowUnknownOptions()
    .action(() => runObscure(argsAfter(cli, 'obscure'), { stdin: process.stdin, ...terminal }));
}

/** Run `obscure [VALUE]` (the arguments after `obscure`); resolves to the exit code. */
export async function runObscure(args: string[], io: ObscureIO): Promise<number> {
  let positionals: string[];
  try {
    // Values are taken as typed: `0123` stays `0123`, and `--` lets a value start with a dash.
    ({ positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true }));
  } catch {
    // Node's message repeats the argument, which here is the secret itself.
    throw usageError('obscure: a VALUE starting with "-" must come after --', 'Usage: pyrestserver obscure [VALUE]; use `obscure -- VALUE` for a value starting with "-".');
  }
  if (positionals.length > 1) throw usageError('obscure takes one VALUE', 'Quote a value with spaces: pyrestserver obscure "a b c".');
  let value = positionals[0];
  if (value === undefined) {
    if (io.stdin.isTTY) io.err('Type the value to obscure, then Ctrl-D:');
    value = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  }
  if (value === '') throw usageError('obscure: the value is empty', 'Give it as an argument or on standard input.');
  io.out(`${obscure(value)}\n`);
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
