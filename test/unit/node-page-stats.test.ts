/**
 * nodePageStats (cslide's per-node used/hot/cold bytes, reported for every
 * pid every round) against the object-per-node loop it replaced, kept
 * here as the reference: equal results, key order included, on random maps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodePageStats, type NodePageStats } from '../../src/runner/page-report.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import { seededRandom } from '../sim/synthetic.js';

function reference(map: AccessMap, hotThreshold: number): Record<number, NodePageStats> {
  const out: Record<number, NodePageStats> = {};
  for (const r of map.ranges) {
    if (!r.present || r.node < 0) continue;
    const bytes = r.pageCount * r.pageSizeBytes;
    const s = (out[r.node] ??= { usedBytes: 0, hotBytes: 0, coldBytes: 0 });
    s.usedBytes += bytes;
    if (r.accessCount >= hotThreshold) s.hotBytes += bytes;
    else s.coldBytes += bytes;
  }
  return out;
}

test('nodePageStats equals the per-node object loop on 2000 random maps (nodes past the small-id arrays too)', () => {
  const rand = seededRandom(11);
  const nodeIds = [-1, 0, 1, 2, 3, 7, 63, 64, 100, 1023];
  for (let iter = 0; iter < 2000; iter++) {
    const ranges = new AccessRanges();
    let at = 0x7f0000000000;
    const n = Math.floor(rand() * 300);
    for (let i = 0; i < n; i++) {
      const size = rand() < 0.3 ? 2 * 1024 * 1024 : 4096;
      const pages = 1 + Math.floor(rand() * (rand() < 0.1 ? 100000 : 50));
      const present = rand() < 0.85;
      ranges.push(at, pages, size, Math.floor(rand() * 7), present ? nodeIds[Math.floor(rand() * nodeIds.length)]! : -1, present, !present && rand() < 0.5);
      at += pages * size;
    }
    const map: AccessMap = { pid: 1, loop: 3, tracker: 'synthetic', timeMs: 0, vmas: [], ranges };
    const threshold = Math.floor(rand() * 5);
    const got = nodePageStats(map, threshold);
    const want = reference(map, threshold);
    assert.deepEqual(got, want, `map ${iter}`);
    assert.deepEqual(Object.keys(got), Object.keys(want), `key order, map ${iter}`);
  }
});
