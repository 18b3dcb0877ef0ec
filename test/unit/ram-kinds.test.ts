/**
 * cslide's `ram` key (virt-tier): guest RAM beyond etmem's hugetlb-only
 * `vm_flags=ht`: THP, any private anonymous memory, memfd/shm. The VMA
 * filter is the one every tracker applies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateTaskParams } from '../../src/config/task-params.js';
import { filterVmas } from '../../src/scan/proc-vmas.js';
import type { AccessMapVma } from '../../src/scan/access-map.js';
import { VirtTierError } from '../../src/errors.js';

const HOST = { numaNodes: [0, 1, 2, 3], cpuCount: 2 };
const vma = (pathname: string, flags: string): AccessMapVma => ({ start: 0, end: 4096, pathname, vmFlags: flags.split(' ') });
const VMAS = {
  hugetlb: vma('/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.x (deleted)', 'rd wr sh mr mw me ms de ht'),
  thp: vma('', 'rd wr mr mw me ac hg'),
  anon: vma('', 'rd wr mr mw me ac'),
  memfd: vma('/memfd:pc.ram (deleted)', 'rd wr sh mr mw me ms'),
  file: vma('/usr/lib/libc.so.6', 'rd ex mr mw me'),
};

test('ram: parsed as a list; vm_flags may then be left out; unknown kinds are refused naming the key', () => {
  assert.deepEqual(validateTaskParams('cslide', { ram: 'thp, shared' }, HOST).params, { vm_flags: [], anon_only: false, ign_host: false, ram: ['thp', 'shared'] });
  assert.deepEqual(validateTaskParams('cslide', { vm_flags: 'ht', ram: 'anon' }, HOST).params, { vm_flags: ['ht'], anon_only: false, ign_host: false, ram: ['anon'] });
  assert.throws(() => validateTaskParams('cslide', { ram: 'thp,swap' }, HOST), (e: unknown) => e instanceof VirtTierError && /ram/.test(e.field ?? '') && /hugetlb\|thp\|anon\|shared/.test(e.allowed ?? ''));
  assert.throws(() => validateTaskParams('cslide', {}, HOST), (e: unknown) => e instanceof VirtTierError && /vm_flags/.test(e.field ?? ''));
});

test('ram kinds select their VMAs; vm_flags=ht alone keeps etmem\'s meaning', () => {
  const all = Object.values(VMAS);
  const pick = (vmFlags: string[], ramKinds?: Array<'hugetlb' | 'thp' | 'anon' | 'shared'>) => filterVmas(all, { vmFlags, anonOnly: false, ramKinds }).map((v) => Object.entries(VMAS).find(([, x]) => x === v)![0]);
  assert.deepEqual(pick(['ht']), ['hugetlb']);
  assert.deepEqual(pick([], ['thp']), ['thp']);
  assert.deepEqual(pick([], ['anon']), ['thp', 'anon']);
  assert.deepEqual(pick([], ['shared']), ['memfd']);
  assert.deepEqual(pick(['ht'], ['shared']), ['hugetlb', 'memfd']);
  assert.deepEqual(pick([]), all.map((v) => Object.entries(VMAS).find(([, x]) => x === v)![0]), 'no flags and no kinds: every VMA (slide)');
});
