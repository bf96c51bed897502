import { cac } from 'cac';
import { createRequire } from 'node:module';
import { registerServe } from './commands/serve.js';
import { registerBackends } from './commands/backends.js';
import { registerConfig } from './commands/config.js';
import { registerObscure } from './commands/obscure.js';
import { registerRepos } from './commands/repos.js';
import { reportError, usageError } from './errors.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const cli = cac('pyrestserver');
  const serve = registerServe(cli);
  registerBackends(cli);
  registerConfig(cli);
  registerObscure(cli);
  registerRepos(cli);
  try {
    // `serve` takes the flags of its backend, so the backend is loaded before the real parse
    // (this first parse runs before help and version exist, so it prints nothing).
    cli.parse(argv, { run: false });
    if (cli.matchedCommandName === 'serve') await serve.prepare(argv.slice(2));
    cli.help();
    cli.version(version);
    cli.parse(argv, { run: false });
    if (cli.matchedCommand && cli.options.version) {
      // cac prints the version only without a command; `serve --version` works like `rest-server --version`.
      cli.outputVersion();
      return 0;
    }
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return 0;
      if (cli.args.length > 0) throw usageError(`unknown command: ${cli.args[0]}`);
      // rest-server's flags without `serve`: a wrong command line, not a request for help.
      const flag = argv.slice(2).find((arg) => arg.startsWith('-'))?.split('=')[0];
      if (flag) throw usageError(`${flag} needs a command`, `To serve, put the command first: pyrestserver serve ${flag} ... (see \`pyrestserver --help\`)`);
      cli.outputHelp();
      return 0;
    }
    const code = await cli.runMatchedCommand();
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    return reportError(err);
  }
}
