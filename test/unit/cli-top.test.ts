import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanBytes, renderScreen, sortRows, topRows, type TopSample } from '../../src/cli/top.js';
import type { TaskUpdate } from '../../src/feed/snapshot.js';

const M = 2 ** 20;
const update = (name: string, o: Partial<TaskUpdate> = {}): TaskUpdate => ({ key: `p/cslide/${name}`, project: 'p', engine: 'cslide', name, type: 'domain', value: name, domain: name, state: 'running', nodes: [], errors: { moverByErrno: {}, trackerByCode: {} }, ...o });

test('top rows: DRAM on nodes with CPUs, AEP on the others; rates from two samples; a round\'s errors count once', () => {
  const nodes = [{ node: 0, usedBytes: 96 * M, hotBytes: 90 * M, coldBytes: 6 * M }, { node: 2, usedBytes: 32 * M, hotBytes: 2 * M, coldBytes: 30 * M }];
  const a: TopSample = { timeMs: 1000, tasks: [update('vm1', { nodes, round: 1, moves: { promotedBytes: 0, demotedBytes: 0, totalPromotedBytes: 4 * M, totalDemotedBytes: 4 * M, movedInBytesByNode: {} }, errors: { moverByErrno: { ENOMEM: 3 }, trackerByCode: {} } })] };
  const b: TopSample = { timeMs: 3000, tasks: [update('vm1', { nodes, round: 2, moves: { promotedBytes: 0, demotedBytes: 0, totalPromotedBytes: 8 * M, totalDemotedBytes: 8 * M, movedInBytesByNode: {} }, errors: { moverByErrno: { ENOMEM: 4 }, trackerByCode: {} } })] };
  const [first] = topRows(undefined, a, new Set([0, 1]));
  assert.deepEqual([first!.dramBytes, first!.aepBytes, first!.hotBytes, first!.coldBytes, first!.movesBytesPerS, first!.errorsPerS], [96 * M, 32 * M, 92 * M, 36 * M, null, null]);
  const [row] = topRows(a, b, new Set([0, 1]));
  assert.equal(row!.movesBytesPerS, (8 * M) / 2);
  assert.equal(row!.errorsPerS, 2);
  // same round seen again: no new errors
  const [again] = topRows(b, { ...b, timeMs: 4000 }, new Set([0, 1]));
  assert.equal(again!.errorsPerS, 0);
});

test('top sorting: numbers largest first, names A..Z, reversible; the screen fits its width', () => {
  const s: TopSample = { timeMs: 0, tasks: [update('b', { nodes: [{ node: 0, usedBytes: 1 * M, hotBytes: 0, coldBytes: 0 }] }), update('a', { nodes: [{ node: 0, usedBytes: 9 * M, hotBytes: 0, coldBytes: 0 }] })] };
  const rows = topRows(undefined, s, new Set([0]));
  assert.deepEqual(sortRows(rows, 'dram').map((r) => r.name), ['a', 'b']);
  assert.deepEqual(sortRows(rows, 'name', true).map((r) => r.name), ['b', 'a']);
  const screen = renderScreen(sortRows(rows, 'dram'), { sort: 'dram', reverse: false, columns: 60, rows: 8, timeMs: 0, socket: 'virt-tier' });
  for (const line of screen.split('\n')) assert.ok(line.length <= 60, line);
  assert.equal(humanBytes(1536 * M), '1.5G');
  assert.equal(humanBytes(96 * M), '96M');
  assert.equal(humanBytes(0), '0');
});
