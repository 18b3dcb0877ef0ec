/**
 * DRAM minima that cannot fit (issue 15, "Bad input"): the pure check
 * (src/engines/cslide-minima.ts), the cslide engine's refusal at add time
 * through the real Registry (host facts from a 4-node sysfs tree: a fixture,
 * this machine has one node), and the range of each share key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMinimaFit, engineDramBudget, minimumRoomBytes, type MinimumTask } from '../../src/engines/cslide-minima.js';
import { parseConfigText } from '../../src/config/parse.js';
import { VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';
import { Registry } from '../../src/model/registry.js';
import { MemoryIO } from '../../src/platform/io.js';
import { createCslideEngineFactory, cslideTaskKinds } from '../../src/runner/cslide.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import { platformHostInfo } from '../../src/runner/host-info.js';
import { EngineFactories } from '../../src/runner/registry.js';
import type { Mover } from '../../src/mover/types.js';
import { HOST, assertInvalid, cslideEngine, cslideTask, iniOf, project, without, type Section } from './config-helpers.js';

const MB = 1 << 20;
const huge = { hugetlb: true, regular: false };
const regular = { hugetlb: false, regular: true };
const both = { hugetlb: true, regular: true };
const task = (label: string, mb: number, kinds = huge): MinimumTask => ({ label, dramMinBytes: mb * MB, kinds });

describe('engineDramBudget: per memory kind over the DRAM nodes of the pairs', () => {
  test('hugetlb: every page size of the DRAM nodes\' pools; regular: MemTotal less those pools; AEP nodes never count', () => {
    const twoMiB = { 0: { totalBytes: 80 * MB, freeBytes: 10 * MB }, 1: { totalBytes: 0, freeBytes: 0 }, 2: { totalBytes: 80 * MB, freeBytes: 80 * MB } };
    const oneGiB = { 0: { totalBytes: 1024 * MB, freeBytes: 1024 * MB }, 1: { totalBytes: 0, freeBytes: 0 }, 2: { totalBytes: 0, freeBytes: 0 } };
    const mem = { 0: { totalBytes: 2048 * MB, freeBytes: 100 * MB }, 1: { totalBytes: 512 * MB, freeBytes: 0 }, 2: { totalBytes: 4096 * MB, freeBytes: 0 }, 3: { totalBytes: 4096 * MB, freeBytes: 0 } };
    assert.deepEqual(engineDramBudget([{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }], [twoMiB, oneGiB], mem), { hugetlbBytes: 1104 * MB, regularBytes: (2048 - 1104 + 512) * MB });
    // Free figures play no part: a minimum is a claim on the node, not on what is free now.
    assert.deepEqual(engineDramBudget([{ dram: 1, aep: 3 }], [twoMiB], mem), { hugetlbBytes: 0, regularBytes: 512 * MB });
  });
});

describe('checkMinimaFit', () => {
  const budget = { hugetlbBytes: 80 * MB, regularBytes: 900 * MB };

  test('hugetlb minima against the pools: the task that tips it over is named, with the room left', () => {
    assert.deepEqual(checkMinimaFit([task('a', 30)], [task('b', 50)], budget), { ok: true });
    const v = checkMinimaFit([task('a', 30)], [task('b', 40), task('c', 20)], budget);
    assert.deepEqual(v, { ok: false, task: task('c', 20), roomBytes: 10 * MB, heldBytes: 70 * MB });
  });

  test('regular minima against regular memory, mixed tasks against both together (Hall\'s condition)', () => {
    assert.equal(minimumRoomBytes([task('r', 800, regular)], regular, budget), 100 * MB);
    // 80 MB hugetlb-only + 900 MB regular-only fill both: a task that may use either has nothing left.
    assert.equal(minimumRoomBytes([task('h', 80), task('r', 900, regular)], both, budget), 0);
    // A mixed task's minimum can sit in regular memory, leaving the pools to a hugetlb-only one...
    assert.deepEqual(checkMinimaFit([task('m', 100, both)], [task('h', 80)], budget), { ok: true });
    // ... but not when regular memory is taken too.
    const v = checkMinimaFit([task('m', 100, both), task('r', 850, regular)], [task('h', 80)], budget);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.roomBytes, 30 * MB);
  });

  test('tasks without a minimum always fit, even when the held ones no longer do (a pool shrank)', () => {
    assert.deepEqual(checkMinimaFit([task('a', 500)], [task('b', 0)], budget), { ok: true });
    const v = checkMinimaFit([task('a', 500)], [task('b', 1)], budget);
    assert.deepEqual(v, { ok: false, task: task('b', 1), roomBytes: 0, heldBytes: 500 * MB });
  });

  test('the exact fit is accepted, one byte more is not', () => {
    assert.deepEqual(checkMinimaFit([], [task('a', 80)], budget), { ok: true });
    assert.equal(checkMinimaFit([], [{ ...task('a', 80), dramMinBytes: 80 * MB + 1 }], budget).ok, false);
  });

  test('a task\'s kinds follow its selection: vm_flags=ht and ram=hugetlb are hugetlb, thp/anon/shared regular', () => {
    assert.deepEqual(cslideTaskKinds({ vm_flags: ['ht'], anon_only: false, ign_host: false }), huge);
    assert.deepEqual(cslideTaskKinds({ vm_flags: [], anon_only: false, ign_host: false, ram: ['thp', 'shared'] }), regular);
    assert.deepEqual(cslideTaskKinds({ vm_flags: [], anon_only: false, ign_host: false, ram: ['hugetlb', 'anon'] }), both);
  });
});

/** A 4-node host (fixture: this machine has one node): DRAM 0-1 with CPUs, AEP 2-3; 2 MiB pools 40 pages on 0 and 2. */
function fourNodeSysfs(): MemoryIO {
  const files: Record<string, string> = { '/sys/devices/system/node/online': '0-3\n' };
  const memTotalMiB = [1024, 512, 2048, 2048];
  const pool2M = [40, 0, 40, 0];
  for (let n = 0; n < 4; n++) {
    const d = `/sys/devices/system/node/node${n}`;
    files[`${d}/meminfo`] = `Node ${n} MemTotal:       ${memTotalMiB[n]! * 1024} kB\nNode ${n} MemFree:        ${memTotalMiB[n]! * 512} kB\n`;
    files[`${d}/hugepages/hugepages-2048kB/nr_hugepages`] = `${pool2M[n]}\n`;
    files[`${d}/hugepages/hugepages-2048kB/free_hugepages`] = `${pool2M[n]}\n`;
    files[`${d}/hugepages/hugepages-1048576kB/nr_hugepages`] = '0\n';
    files[`${d}/hugepages/hugepages-1048576kB/free_hugepages`] = '0\n';
  }
  return new MemoryIO(files);
}

// The tasks' pid is this test's parent: cslide refuses a dead pid at add (etmem), and never the daemon's own.
describe('obj add of cslide tasks whose DRAM minima do not fit (real Registry and cslide engine, fixture sysfs)', () => {
  const unusedMover: Mover = { execute: () => Promise.reject(new Error('no moves in this test')) } as unknown as Mover;
  const registry = (): Registry => new Registry(nullLogger(), {
    engines: new EngineFactories({
      cslide: createCslideEngineFactory({ trackerFactory: () => { throw new Error('no scans in this test'); }, mover: unusedMover, hostInfo: platformHostInfo(fourNodeSysfs()), pidClaims: new PidClaims() }),
    }),
  });
  const doc = (sections: Section[]) => parseConfigText(iniOf(sections), 'ini', HOST);
  const engine = cslideEngine({ node_pair: '0,2;1,3' });
  const refused = async (reg: Registry, sections: Section[], field: string, allowed: string): Promise<VirtTierError> => {
    const err = await reg.add(doc(sections)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof VirtTierError, String(err));
    assert.equal(err.code, 'OPT_INVAL', err.message);
    assert.equal(err.field, field, err.message);
    assert.equal(err.allowed, allowed, err.message);
    return err;
  };

  test('hugetlb guests: the DRAM nodes\' pools (80 MB); the error names dram_min and what is left; nothing of the document is added', async () => {
    const reg = registry();
    await reg.add(doc([project(), engine, cslideTask({ name: 'g1', value: String(process.ppid), dram_min: '50' })]));
    const before = JSON.stringify(reg.show());
    const err = await refused(reg, [cslideTask({ name: 'g2', value: String(process.ppid), dram_min: '20' }), cslideTask({ name: 'g3', value: String(process.ppid), dram_min: '20' })],
      'task "g3".dram_min', '0..10 (MB left of the engine\'s DRAM for hugetlb)');
    assert.match(err.message, /20 MB does not fit: the engine's DRAM nodes 0,1 have 80 MB in hugepage pools and 1456 MB of regular memory, of which the minima of the engine's other guests hold 70 MB; allowed/);
    assert.equal(JSON.stringify(reg.show()), before, 'all or nothing: g2 was not added either');
    // What is left still fits.
    await reg.add(doc([cslideTask({ name: 'g2', value: String(process.ppid), dram_min: '30' })]));
    assert.deepEqual(reg.show()[0]!.tasks.map((t) => t.name), ['g1', 'g2']);
  });

  test('regular memory: MemTotal of nodes 0 and 1 less node 0\'s pool (1456 MB); a task of both kinds against both (1536 MB)', async () => {
    const reg = registry();
    await reg.add(doc([project(), engine, without(cslideTask({ name: 'thp', value: String(process.ppid), ram: 'thp', dram_min: '1400' }), 'vm_flags')]));
    await refused(reg, [without(cslideTask({ name: 'memfd', value: String(process.ppid), ram: 'shared', dram_min: '57' }), 'vm_flags')], 'task "memfd".dram_min', '0..56 (MB left of the engine\'s DRAM for regular memory)');
    await refused(reg, [cslideTask({ name: 'mixed', value: String(process.ppid), ram: 'hugetlb,anon', dram_min: '137' })], 'task "mixed".dram_min', '0..136 (MB left of the engine\'s DRAM for hugetlb and regular memory)');
    await reg.add(doc([cslideTask({ name: 'mixed', value: String(process.ppid), ram: 'hugetlb,anon', dram_min: '136' })]));
  });

  test('a full pool leaves 0..0 for the next hugetlb minimum', async () => {
    const reg = registry();
    await reg.add(doc([project(), engine, cslideTask({ name: 'g1', value: String(process.ppid), dram_min: '80' })]));
    await refused(reg, [cslideTask({ name: 'g2', value: String(process.ppid), dram_min: '1' })], 'task "g2".dram_min', '0..0 (MB left of the engine\'s DRAM for hugetlb)');
  });
});

describe('share keys out of range: named field and range', () => {
  const parse = (extra: Record<string, string>) => parseConfigText(iniOf([cslideTask(extra)]), 'ini', HOST);
  for (const [key, min, max, allowed] of [['weight', 1, 10000, '1..10000'], ['dram_min', 0, 2147483647, '0..2147483647'], ['dram_max', 0, 2147483647, '0..2147483647']] as const) {
    test(`${key} ${min}..${max}`, () => {
      parse({ [key]: String(min) });
      parse({ [key]: String(max) });
      for (const bad of [String(min - 1), String(max + 1), '1.5', '0x10', '']) {
        const err = assertInvalid(() => parse({ [key]: bad }), `task[0].${key}`);
        if (bad !== '') assert.match(err.allowed ?? err.message, new RegExp(allowed.replace(/\./g, '\\.')), err.message);
      }
    });
  }
  test('dram_min above dram_max', () => {
    assertInvalid(() => parse({ dram_min: '64', dram_max: '32' }), 'task[0].dram_min', '64 MB is above dram_max 32 MB');
  });
});
