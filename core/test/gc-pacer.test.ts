import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { PACE_BYTES, paceCollections, youngCollector } from '../src/storage/gc-pacer.js';

/** Young-generation collections V8 reports while `run` runs (and shortly after: entries come late). */
async function minorCollectionsDuring(run: () => void): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry.detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    run();
    await sleep(50);
  } finally {
    observer.disconnect();
  }
  return count;
}

describe('collection pacing', () => {
  it("gets V8's collector without exposing gc to this or any later context", () => {
    const collect = youngCollector();
    assert.equal(typeof collect, 'function');
    collect!({ type: 'minor' });
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
    assert.equal(runInNewContext('typeof gc'), 'undefined');
  });

  it('asks for a young-generation collection after every PACE_BYTES read', async () => {
    // Ten half paces: five collections asked for (others V8 makes on its own may add to them).
    const collections = await minorCollectionsDuring(() => {
      for (let i = 0; i < 10; i++) paceCollections(PACE_BYTES / 2);
    });
    assert.ok(collections >= 5, `${collections} young-generation collections`);
  });
});
