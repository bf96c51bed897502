// Command-line plumbing shared by the bench scripts.
import { parseArgs } from 'node:util';

/** Options of every script that targets one server. */
export const TARGET_OPTIONS = {
  url: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  pid: { type: 'string' },
  json: { type: 'boolean', default: false },
};

/** The values of TARGET_OPTIONS from a parseCommandLine result; --url is required. */
export function targetValues({ values, fail, integer }) {
  if (!values.url) fail('--url is required');
  return { url: values.url, user: values.user, password: values.password, pid: integer('pid'), json: values.json };
}

/**
 * Parses `argv` against `options` (node:util parseArgs, string-typed numbers) plus --help;
 * positional arguments only when `positionals` is true. Returns { values, positionals, fail,
 * integer }: `fail(message)` prints it with `usage` and exits 2;
 * `integer(name, min)` reads option `name` as an integer >= min (undefined when absent).
 * --help prints `usage` and exits 0.
 */
export function parseCommandLine(script, usage, argv, options, { positionals: allowPositionals = false } = {}) {
  const fail = (message) => {
    console.error(`${script}: ${message}\n${usage}`);
    process.exit(2);
  };
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
    }));
  } catch (err) {
    fail(err.message);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const integer = (name, min = 1) => {
    if (values[name] === undefined) return undefined;
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got "${values[name]}"`);
    return n;
  };
  return { values, positionals, fail, integer };
}

/** Runs `main(argv)` as the script's body: its result is the exit code; an error prints one line. */
export function runMain(script, main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`${script}: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
