#!/usr/bin/env node
// Where a Node CPU profile (node --cpu-prof) spent its time: self time by function and by file.
//
//   node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, runMain } from './lib/cli.mjs';
import { fixed, formatTable } from './lib/table.mjs';

const ROOT_URL = new URL('..', import.meta.url).href;

const USAGE = `usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [--top N]
  --top N   rows per table (default 25)`;

async function main(argv) {
  const { positionals, fail, integer } = parseCommandLine(
    'cpuprofile-top.mjs',
    USAGE,
    argv,
    { top: { type: 'string', default: '25' } },
    { positionals: true },
  );
  if (positionals.length !== 1) fail('one .cpuprofile file is required');
  const [file] = positionals;
  const top = integer('top');
  const profile = JSON.parse(await readFile(file, 'utf8'));
  const selfMs = selfTimes(profile);
  const totalMs = inclusiveTimes(profile, selfMs);
  const key = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`.trim();
  };
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((ms, n) => ms + (selfMs.get(n.id) ?? 0), 0);
  const sampled = [...selfMs.values()].reduce((a, b) => a + b, 0);
  const busy = sampled - idle;

  const byFunction = new Map();
  const byFile = new Map();
  const projectTotal = new Map();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName === '(idle)') continue;
    const ms = selfMs.get(node.id) ?? 0;
    add(byFunction, key(node), ms);
    add(byFile, shortUrl(node.callFrame.url) || node.callFrame.functionName, ms);
    // Inclusive time of our own code (not node: internals, not node_modules); recursion counts once per frame.
    if (isProject(node.callFrame.url)) add(projectTotal, key(node), totalMs.get(node.id));
  }
  const rows = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => [name, fixed(ms, 0), `${fixed((ms / busy) * 100, 1)}%`]);
  console.log(`${file}: ${fixed(sampled, 0)} ms sampled, ${fixed(busy, 0)} ms busy (shares are of busy time)\n`);
  console.log(formatTable(['self time by function', 'ms', 'share'], rows(byFunction)));
  console.log();
  console.log(formatTable(['self time by file', 'ms', 'share'], rows(byFile)));
  console.log();
  console.log(formatTable(['total time (self + callees) of project functions', 'ms', 'share'], rows(projectTotal)));
  return 0;
}

function add(map, key, ms) {
  map.set(key, (map.get(key) ?? 0) + ms);
}

function isProject(url) {
  return url.startsWith(ROOT_URL) && !url.includes('/node_modules/');
}

/** Self plus callees' milliseconds per node id. */
function inclusiveTimes(profile, selfMs) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = new Map();
  const visit = (id) => {
    if (total.has(id)) return total.get(id);
    const node = byId.get(id);
    const ms = (selfMs.get(id) ?? 0) + (node.children ?? []).reduce((sum, child) => sum + visit(child), 0);
    total.set(id, ms);
    return ms;
  };
  for (const node of profile.nodes) visit(node.id);
  return total;
}

/** Self milliseconds per node id, from the profile's samples and time deltas. */
function selfTimes(profile) {
  const ms = new Map();
  profile.samples.forEach((id, i) => ms.set(id, (ms.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  return ms;
}

/** A file URL shortened to what identifies it: the part after node_modules/ or the repository. */
function shortUrl(url) {
  if (!url) return '';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
  if (url.startsWith(ROOT_URL)) return url.slice(ROOT_URL.length);
  return url.startsWith('file:') ? fileURLToPath(url) : url;
}

runMain('cpuprofile-top.mjs', main);
