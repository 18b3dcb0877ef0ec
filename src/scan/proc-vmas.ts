/**
 * A process's VMAs as trackers need them (address range, pathname, VmFlags;
 * parsed by src/platform/smaps.ts) and the VMA filter trackers apply
 * (cslide: every VMA carrying `ht`).
 */
import type { AccessMapVma } from './access-map.js';
import type { VmaFilter } from './tracker.js';
import type { RamKind } from '../config/types.js';
import { processGone } from '../errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { parseSmaps } from '../platform/smaps.js';

/** Parses smaps text into VMAs in address order. */
export function parseSmapsVmas(text: string): AccessMapVma[] {
  return parseSmaps(text).map(({ start, end, vmFlags, pathname, inode }) => ({ start, end, vmFlags, pathname, inode }));
}

/** Reads and parses /proc/PID/smaps (or `path`) through `io`; a process that is gone rejects with SysError ESRCH, as trackers promise. */
export async function readVmas(pid: number, io: PlatformIO = liveIO, path = `/proc/${pid}/smaps`): Promise<AccessMapVma[]> {
  let text: string;
  try {
    text = await io.readText(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw processGone(pid, { syscall: 'open', path });
    throw err;
  }
  return parseSmapsVmas(text);
}

/**
 * anon_only's test, etmem's rule (etmemd_scan.c is_anonymous): a VMA that
 * may not be shared (no `ms` VmFlag) and is not executable (no `ex`), and
 * either has no backing inode or is writable. So the heap, stacks and
 * private anonymous mappings count, and so do private writable file
 * mappings: libvirt's private hugetlbfs guest RAM
 * (`qemu_back_mem.* (deleted)`, `rw-p`), MAP_PRIVATE|MAP_ANONYMOUS
 * hugetlb (`/anon_hugepage (deleted)`) and a library's data segment. Shared
 * memory (memfd, shm, `rw-s` hugetlbfs) and code never count. Without an
 * inode (a VMA not read from smaps), a path-less or `[...]` VMA stands for
 * inode 0.
 */
export function isEtmemAnonymousVma(vma: Pick<AccessMapVma, 'pathname' | 'vmFlags' | 'inode'>): boolean {
  const f = vma.vmFlags;
  if (f.includes('ms') || f.includes('sh') || f.includes('ex')) return false;
  const noInode = vma.inode !== undefined ? vma.inode === 0 : vma.pathname === '' || vma.pathname.startsWith('[');
  return noInode || f.includes('wr');
}

/** Anonymous memory as smaps names it: no path, the heap, a stack, or a named anonymous mapping (the `ram` kinds' test). */
export function isAnonymousVma(vma: Pick<AccessMapVma, 'pathname'>): boolean {
  const p = vma.pathname;
  return p === '' || p === '[heap]' || p.startsWith('[stack') || p.startsWith('[anon');
}

/** Shared memory that is RAM rather than a file's page cache: memfd, /dev/shm (shm_open), SysV shm. */
function isSharedMemoryVma(vma: Pick<AccessMapVma, 'pathname' | 'vmFlags'>): boolean {
  const p = vma.pathname;
  return vma.vmFlags.includes('sh') && (p.startsWith('/memfd:') || p.startsWith('/dev/shm/') || p.startsWith('/SYSV'));
}

/** Whether a VMA is guest RAM of `kind` (cslide `ram`). */
export function isRamKind(vma: Pick<AccessMapVma, 'pathname' | 'vmFlags'>, kind: RamKind): boolean {
  const huge = vma.vmFlags.includes('ht');
  switch (kind) {
    case 'hugetlb':
      return huge;
    case 'thp':
      return !huge && vma.vmFlags.includes('hg') && !vma.vmFlags.includes('sh') && isAnonymousVma(vma);
    case 'anon':
      return !huge && !vma.vmFlags.includes('sh') && isAnonymousVma(vma);
    case 'shared':
      return !huge && isSharedMemoryVma(vma);
  }
}

/**
 * VMAs that carry every flag of the filter, or (virt-tier's `ram`) are
 * guest RAM of one of its kinds; with anonOnly, only those etmem calls
 * anonymous (isEtmemAnonymousVma).
 */
export function filterVmas(vmas: readonly AccessMapVma[], filter: VmaFilter): AccessMapVma[] {
  const kinds = filter.ramKinds ?? [];
  const byFlags = (v: AccessMapVma): boolean => (filter.vmFlags.length > 0 || kinds.length === 0) && filter.vmFlags.every((f) => v.vmFlags.includes(f));
  return vmas.filter((v) => (byFlags(v) || kinds.some((k) => isRamKind(v, k))) && (!filter.anonOnly || isEtmemAnonymousVma(v)));
}
