#!/usr/bin/env node
// What the per-repository statistics cost (docs/security.md, "Per repository"): the walk at
// start over a store of REPOS repositories x FILES data files, the per-request hook, and a
// /metrics scrape. Build first (pnpm run build).
//
//   node bench/repo-stats.mjs [--repos 200] [--files 500]
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer, walkRepository } from '../core/dist/index.js';
import { RepoStatsTracker } from '../core/dist/repo-stats.js';
import local from '../plugins/backend-local/dist/index.js';

const { values } = parseArgs({ options: { repos: { type: 'string', default: '200' }, files: { type: 'string', default: '500' } } });
const REPOS = Number(values.repos);
const FILES = Number(values.files);

const root = await mkdtemp(join(os.tmpdir(), 'pyrs-bench-stats-'));
try {
  for (let r = 0; r < REPOS; r++) {
    const repo = join(root, `user${r}`, 'laptop');
    for (const t of ['keys', 'locks', 'snapshots', 'index']) await mkdir(join(repo, t), { recursive: true });
    await writeFile(join(repo, 'config'), 'config');
    for (let f = 0; f < FILES; f++) {
      const name = createHash('sha256').update(`${r}/${f}`).digest('hex');
      const dir = join(repo, 'data', name.slice(0, 2));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, name), 'x'.repeat(100));
    }
    await writeFile(join(repo, 'snapshots', createHash('sha256').update(`s${r}`).digest('hex')), 'snap');
  }
  const noop = () => {};
  const logger = { info: noop, warn: noop, debug: noop, error: noop, child: () => logger };
  const provider = await local.create({ path: root }, { logger, groupAccessible: false });

  // 1. The walk at start (what the server does once in the background, and `repos` does).
  let started = performance.now();
  let files = 0;
  for await (const repo of provider.repositories()) files += (await walkRepository(provider, repo)).types.data.files;
  const walkMs = performance.now() - started;

  // 2. The per-request hook: tracker.written + deleted on counted repositories.
  const tracker = new RepoStatsTracker(provider);
  tracker.start();
  await tracker.settled();
  const N = 2_000_000;
  const names = Array.from({ length: REPOS }, (_, r) => `user${r}/laptop`);
  started = performance.now();
  for (let i = 0; i < N; i++) {
    const repo = names[i % REPOS];
    tracker.written(repo, 'data', 100);
    tracker.deleted(repo, 'data', 100);
  }
  const hookNs = ((performance.now() - started) * 1e6) / (2 * N);

  // 3. A scrape of /metrics with every repository counted.
  const app = await createServer({ provider, auth: { kind: 'none' }, prometheus: true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${app.server.address().port}/metrics`;
  for (;;) {
    const text = await (await fetch(url)).text();
    if (/^pyrestserver_repository_stats_pending 0$/m.test(text)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const SCRAPES = 20;
  let bytes = 0;
  started = performance.now();
  for (let i = 0; i < SCRAPES; i++) bytes += (await (await fetch(url)).text()).length;
  const scrapeMs = (performance.now() - started) / SCRAPES;
  await app.close();

  console.log(`store: ${REPOS} repositories, ${files} data files (${REPOS * (FILES + 3)} files in all)`);
  console.log(`walk at start:        ${walkMs.toFixed(0)} ms (${((walkMs * 1000) / (REPOS * (FILES + 3))).toFixed(1)} us per file)`);
  console.log(`per-request hook:     ${hookNs.toFixed(0)} ns per written/deleted call`);
  console.log(`/metrics scrape:      ${scrapeMs.toFixed(1)} ms (${(bytes / SCRAPES / 1024).toFixed(0)} KiB)`);
} finally {
  await rm(root, { recursive: true, force: true });
}
