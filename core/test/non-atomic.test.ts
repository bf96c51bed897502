import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const SUITE = fileURLToPath(new URL('./fixtures/non-atomic-suite.ts', import.meta.url));

test('the conformance suite catches a backend that shows uploads in flight and leaves partial files behind', async () => {
  const output = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=pyrestserver-source', '--import', 'tsx', '--test', '--test-reporter=tap', SUITE],
      // Without the runner's NODE_TEST_CONTEXT, or the child would report to it, not in TAP.
      { cwd: fileURLToPath(new URL('..', import.meta.url)), env: withoutTestContext(), maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (_err, stdout) => resolve(stdout),
    );
  });
  const failed = [...output.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]!);
  assert.ok(failed.includes('an upload stays invisible after several MiB were sent, while its body is held open'), output.slice(-3000));
  assert.ok(failed.includes('a body that fails after several MiB leaves nothing behind, and a retry succeeds'), failed.join('\n'));
  // Everything else the fixture does right still passes: the failures are the atomicity tests.
  assert.match(output, /^# pass [1-9]\d*$/m);
});

function withoutTestContext(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
