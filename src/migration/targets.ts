/**
 * Which address ranges of a process are "RAMBlocks" for migrate-hints:
 * for a QEMU process, its memory backends matched to VMAs
 * (src/virt/qemu-process.ts; the ids QEMU's migration stream uses); for
 * any other process (tests, non-libvirt VMMs), one pseudo RAMBlock per
 * writable anonymous, shared or hugetlb mapping of at least 1 MiB, named
 * after its kind and address.
 */
import { statfs } from 'node:fs/promises';
import { VirtTierError } from '../errors.js';
import type { PlatformIO } from '../platform/io.js';
import { parseSmaps, readSmaps, type SmapsVma } from '../platform/smaps.js';
import { matchRamBlocks, type GuestRamBlock } from '../virt/qemu-process.js';
import { parseQemuCmdline, splitCmdline } from '../virt/qemu-cmdline.js';
import type { RamBlockKind, RamBlockTarget } from './page-stats.js';

const MIN_PSEUDO_BLOCK_BYTES = 1024 * 1024;

function kindOf(vma: SmapsVma): RamBlockKind {
  if (vma.vmFlags.includes('ht')) return 'hugetlb';
  return vma.perms[3] === 's' ? 'shared' : 'anon';
}

function targetOf(id: string, vma: SmapsVma): RamBlockTarget {
  return {
    id,
    start: vma.start,
    end: vma.end,
    kind: kindOf(vma),
    pageSizeBytes: Math.max(4096, vma.kernelPageSizeBytes),
    vmaStart: vma.start,
    vmaEnd: vma.end,
    fileOffset: vma.offset,
    pathname: vma.pathname,
  };
}

/** RAMBlocks of a QEMU process from its backends (those without a VMA are left out and listed). */
export function qemuRamBlockTargets(blocks: readonly GuestRamBlock[], smaps: readonly SmapsVma[]): { targets: RamBlockTarget[]; unmatched: string[] } {
  const targets: RamBlockTarget[] = [];
  const unmatched: string[] = [];
  for (const b of blocks) {
    const vma = b.vma ? smaps.find((v) => v.start === b.vma!.start) : undefined;
    if (!vma) {
      unmatched.push(b.id);
      continue;
    }
    targets.push(targetOf(b.id, vma));
  }
  return { targets, unmatched };
}

/** Pseudo RAMBlocks of a process that is not QEMU. */
export function pseudoRamBlockTargets(smaps: readonly SmapsVma[]): RamBlockTarget[] {
  const out: RamBlockTarget[] = [];
  for (const v of smaps) {
    if (v.sizeBytes < MIN_PSEUDO_BLOCK_BYTES || v.end > Number.MAX_SAFE_INTEGER) continue;
    if (!v.perms.startsWith('rw')) continue;
    if (v.pathname.startsWith('[') && v.pathname !== '[heap]') continue; // [stack], [vvar], ...
    const kind = kindOf(v);
    const anonymous = v.inode === 0 && (v.pathname === '' || v.pathname === '[heap]');
    if (kind === 'anon' && !anonymous) continue; // private file mappings (libraries' data) are not guest RAM
    const label = kind === 'shared' ? (v.pathname.startsWith('/memfd:') ? 'memfd' : 'shared') : kind;
    out.push(targetOf(`${label}@0x${v.start.toString(16)}`, v));
  }
  return out;
}

/** hugetlbfs's f_type (include/uapi/linux/magic.h, HUGETLBFS_MAGIC). */
const HUGETLBFS_MAGIC = 0x958458f6;

/**
 * The VMAs of `pid` from /proc/PID/maps, with `ht` in vmFlags and the huge
 * page size in kernelPageSizeBytes for mappings on hugetlbfs (the only
 * flag this reader derives; no sizes). Why not smaps: reading smaps walks
 * every page table to count Rss/Swap, 40-130 ms for 4 GiB of 4 KiB pages
 * here, as long as the page-state walk itself; maps does not walk. A
 * hugetlb mapping (hugetlbfs file, MAP_HUGETLB, hugetlb memfd) is always
 * file-backed, so statfs of its /proc/PID/map_files entry (root) names the
 * filesystem, and hugetlbfs reports its page size as f_bsize
 * (fs/hugetlbfs/inode.c, hugetlbfs_statfs).
 */
export async function readMapsWithHugetlb(io: PlatformIO, pid: number): Promise<SmapsVma[]> {
  const vmas = parseSmaps(await io.readText(`/proc/${pid}/maps`));
  await Promise.all(vmas.map(async (v) => {
    if (v.inode === 0 || v.sizeBytes < MIN_PSEUDO_BLOCK_BYTES || v.end > Number.MAX_SAFE_INTEGER) return;
    try {
      const fs = await statfs(`/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`);
      if (fs.type === HUGETLBFS_MAGIC) {
        v.vmFlags = ['ht'];
        v.kernelPageSizeBytes = fs.bsize;
      }
    } catch (err) {
      // the mapping went away since maps was read: it is not guest RAM any more
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }));
  return vmas;
}

/** The RAMBlocks of `pid`: QEMU's when its command line names memory backends, else pseudo blocks. */
export async function processRamBlockTargets(io: PlatformIO, pid: number): Promise<{ targets: RamBlockTarget[]; qemu: boolean; unmatched: string[] }> {
  const noProcess = (err: unknown): unknown => {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ESRCH') return new VirtTierError('OPT_INVAL', `--pid ${pid}: no such process`, { field: '--pid', value: String(pid), allowed: 'a running process id' });
    return err;
  };
  let cmdline: string;
  try {
    cmdline = await io.readText(`/proc/${pid}/cmdline`);
  } catch (err) {
    throw noProcess(err);
  }
  const parsed = parseQemuCmdline(splitCmdline(cmdline));
  try {
    if (parsed.ramBackends.length > 0) {
      // QEMU's backends are matched by sizes and flags that only smaps has
      const smaps = await readSmaps(io, pid);
      const { targets, unmatched } = qemuRamBlockTargets(matchRamBlocks(parsed.ramBackends, smaps), smaps);
      return { targets, qemu: true, unmatched };
    }
    return { targets: pseudoRamBlockTargets(await readMapsWithHugetlb(io, pid)), qemu: false, unmatched: [] };
  } catch (err) {
    throw noProcess(err);
  }
}
