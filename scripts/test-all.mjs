#!/usr/bin/env node
// `pnpm test`: every workspace package's `test` script, one after another, each under a header
// naming it; then one line over all of them: `N passed, N failed`, and which packages failed.
// Exits non-zero when any package fails, including one that crashes before its summary.
// Arguments, optional: package folders to run only those (`node scripts/test-all.mjs core test`).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The workspace's package folders, in pnpm-workspace.yaml's order (`dir/*` expanded, sorted). */
function packageDirs() {
  const yaml = readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs = [];
  let inPackages = false;
  for (const line of yaml.split('\n')) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    else if (inPackages) {
      const m = /^\s+-\s+['"]?([^'"\s]+)['"]?\s*$/.exec(line);
      if (m) globs.push(m[1]);
    }
  }
  const dirs = [];
  for (const glob of globs) {
    if (glob.endsWith('/*')) {
      const parent = glob.slice(0, -2);
      for (const name of readdirSync(path.join(root, parent)).sort()) dirs.push(`${parent}/${name}`);
    } else dirs.push(glob);
  }
  return dirs.filter((dir) => existsSync(path.join(root, dir, 'package.json')));
}

/**
 * The totals of node's test runner from its output: TAP (`# pass 3`, what it prints when stdout
 * is not a terminal on Node 20/22) or the spec reporter (`ℹ pass 3`, Node 23+'s default).
 * The last summary wins (a test's own output may contain such lines earlier).
 */
export function parseSummary(text) {
  const counts = {};
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  for (const m of plain.matchAll(/^(?:# |ℹ )(tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts.pass === undefined ? undefined : counts;
}

function run(dir) {
  return new Promise((resolve) => {
    const child = spawn('pnpm', ['run', '--silent', 'test'], { cwd: path.join(root, dir), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('error', (err) => resolve({ code: 1, summary: undefined, error: err.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal, summary: parseSummary(out) }));
  });
}

async function main() {
  const wanted = process.argv.slice(2).map((d) => d.replace(/\/+$/, ''));
  const all = packageDirs();
  const unknown = wanted.filter((d) => !all.includes(d));
  if (unknown.length) {
    console.error(`test-all: not a workspace package folder: ${unknown.join(', ')} (known: ${all.join(', ')})`);
    return 2;
  }
  const dirs = (wanted.length ? wanted : all).filter((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8'));
    return typeof pkg.scripts?.test === 'string';
  });
  let passed = 0;
  let failed = 0;
  const failures = [];
  const started = Date.now();
  for (const dir of dirs) {
    const name = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')).name;
    console.log(`\n=== ${name} (${dir}) ===`);
    const t0 = Date.now();
    const { code, signal, summary, error } = await run(dir);
    const bad = (summary?.fail ?? 0) + (summary?.cancelled ?? 0);
    passed += summary?.pass ?? 0;
    failed += bad;
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (code !== 0 || !summary || bad > 0) {
      const why = error ?? (!summary ? `no test summary (exit ${signal ?? code})` : bad > 0 ? `${bad} failed` : `exit ${code}`);
      // A package that dies without a summary still counts as one failure.
      if (!summary || bad === 0) failed += 1;
      failures.push(`${name} (${why})`);
      console.log(`=== ${name}: FAILED, ${why}, ${secs} s ===`);
    } else {
      console.log(`=== ${name}: ${summary.pass} passed, ${secs} s ===`);
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`\n${passed} passed, ${failed} failed (${dirs.length} packages, ${secs} s, node ${process.version})${failures.length ? `; failed: ${failures.join(', ')}` : ''}`);
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
