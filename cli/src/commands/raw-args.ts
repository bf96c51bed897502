import type { CAC } from 'cac';

/**
 * The arguments after `command`, exactly as typed. Commands that parse their own
 * flags use them: cac would turn `0123` into 123 and guess which flags take values.
 */
export function argsAfter(cli: CAC, command: string): string[] {
  const args = cli.rawArgs.slice(2);
  args.splice(args.indexOf(command), 1);
  return args;
}

/** Output for a person: text to stdout as is, lines to stderr. */
export const terminal = {
  out: (text: string) => { process.stdout.write(text); },
  err: (line: string) => { console.error(line); },
};
