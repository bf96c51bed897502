import type { CAC } from 'cac';

/**
 * `pyrestserver repos`: what each repository of a store holds. Only the command is declared
 * here; its work (the backend, the walk) is imported when it runs, so other commands and
 * `--version` do not load it.
 */
export function registerRepos(cli: CAC): void {
  cli
    .command('repos', 'List the repositories of a store: size, files by type, newest snapshot, quota use')
    .usage('repos [serve flags] [--json]\n\n  Takes the flags of `serve` (--path, --backend, --backend-config, --config, the backend\'s\n  options, --max-size and the config file\'s quotas); `serve --backend NAME --help` lists them.\n  Walks the store through the backend, like the quota count at start-up; progress goes to stderr.')
    .option('--json', 'print JSON instead of a table')
    .example('pyrestserver repos --path /srv/restic')
    .example('pyrestserver repos --backend-config work-drime --json')
    .allowUnknownOptions()
    .action(async () => {
      const { runRepos } = await import('../repos/run.js');
      return runRepos(cli.rawArgs.slice(2), { env: process.env, cwd: process.cwd() }, {
        out: (text) => { process.stdout.write(text); },
        progress: process.stderr,
      });
    });
}
