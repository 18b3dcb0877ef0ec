/**
 * cslide's anon_only keeps the VMAs etmem calls anonymous (etmemd_scan.c
 * is_anonymous): private, not executable, and no inode or writable. smaps
 * text as this kernel writes it (fixture text: the mappings below are the
 * shapes libvirt's QEMU and a plain process have).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filterVmas, isEtmemAnonymousVma, parseSmapsVmas } from '../../src/scan/proc-vmas.js';

const SMAPS = [
  // libvirt's private hugetlbfs guest RAM (memoryBacking hugepages, no access='shared')
  '7f4000000000-7f4008000000 rw-p 00000000 00:2f 123   /dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.x (deleted)',
  'VmFlags: rd wr mr mw me de ht',
  // the same with access='shared'
  '7f4100000000-7f4108000000 rw-s 00000000 00:2f 124   /dev/hugepages/libvirt/qemu/2-vm/qemu_back_mem.pc.ram.y (deleted)',
  'VmFlags: rd wr sh mr mw me ms de ht',
  // MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB
  '7f4200000000-7f4200400000 rw-p 00000000 00:10 9876  /anon_hugepage (deleted)',
  'VmFlags: rd wr mr mw me de ht',
  '55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0     [heap]',
  'VmFlags: rd wr mr mw me ac',
  // a memfd (vhost-user guest RAM)
  '7f4300000000-7f4300100000 rw-s 00000000 00:01 555   /memfd:pc.ram (deleted)',
  'VmFlags: rd wr sh mr mw me ms',
  // a library: code, read-only data, data
  '7f5000000000-7f5000100000 r-xp 00000000 08:01 42    /usr/lib/x86_64-linux-gnu/libc.so.6',
  'VmFlags: rd ex mr mw me',
  '7f5000100000-7f5000101000 r--p 00100000 08:01 42    /usr/lib/x86_64-linux-gnu/libc.so.6',
  'VmFlags: rd mr mw me',
  '7f5000101000-7f5000102000 rw-p 00101000 08:01 42    /usr/lib/x86_64-linux-gnu/libc.so.6',
  'VmFlags: rd wr mr mw me ac',
  '',
].join('\n');

describe('anon_only: etmem is_anonymous', () => {
  const vmas = parseSmapsVmas(SMAPS);
  test('private writable hugetlbfs guest RAM and anonymous hugetlb count; shared memory, code and read-only file data do not', () => {
    assert.deepEqual(
      vmas.map((v) => [v.pathname.split('/').pop(), isEtmemAnonymousVma(v)]),
      [
        ['qemu_back_mem.pc.ram.x (deleted)', true],
        ['qemu_back_mem.pc.ram.y (deleted)', false],
        ['anon_hugepage (deleted)', true],
        ['[heap]', true],
        ['memfd:pc.ram (deleted)', false],
        ['libc.so.6', false],
        ['libc.so.6', false],
        ['libc.so.6', true],
      ],
    );
  });
  test('cslide vm_flags=ht anon_only=yes keeps libvirt\'s private guest RAM (the path rule dropped it)', () => {
    const kept = filterVmas(vmas, { vmFlags: ['ht'], anonOnly: true }).map((v) => v.start);
    assert.deepEqual(kept, [0x7f4000000000, 0x7f4200000000]);
    assert.deepEqual(filterVmas(vmas, { vmFlags: ['ht'], anonOnly: false }).length, 3);
  });
  test('without an inode (not read from smaps), no path or [..] stands for inode 0', () => {
    assert.equal(isEtmemAnonymousVma({ pathname: '', vmFlags: ['rd'] }), true);
    assert.equal(isEtmemAnonymousVma({ pathname: '/x', vmFlags: ['rd'] }), false);
    assert.equal(isEtmemAnonymousVma({ pathname: '/x', vmFlags: ['rd', 'wr'] }), true);
  });
});
