/**
 * A running domain's QEMU process: its PID (libvirt's pidfile, checked
 * against the process's own command line so a stale pidfile or a reused
 * PID is never mistaken for the guest) and its guest-RAM VMAs, matched to
 * RAMBlock ids.
 */
import { VirtTierError } from '../errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { readSmaps, type SmapsVma } from '../platform/smaps.js';
import { parseQemuCmdline, splitCmdline, type QemuCmdline, type RamBackend } from './qemu-cmdline.js';

/** Where the QEMU driver of a system libvirtd keeps `<name>.pid` (src/qemu/qemu_conf.c: stateDir). */
export const QEMU_RUN_DIR = '/run/libvirt/qemu';

export interface GuestRamBlock extends RamBackend {
  /** the VMA holding this RAMBlock, when found */
  vma?: { start: number; end: number; pathname: string; hugetlb: boolean; kernelPageSizeBytes: number; rssBytes: number; swapBytes: number; hugetlbBytes: number };
}

export interface QemuProcess {
  pid: number;
  cmdline: QemuCmdline;
}

/**
 * Reads `<runDir>/<name>.pid` and checks that the process is QEMU for
 * `guest=<name>`. Returns null when the domain has no live QEMU (no
 * pidfile, process gone, PID reused by something else).
 */
export async function findQemuProcess(name: string, io: PlatformIO = liveIO, runDir = QEMU_RUN_DIR): Promise<QemuProcess | null> {
  // libvirt refuses '/' in domain names; never let a name reach outside runDir anyway.
  if (name === '' || name.includes('/') || name === '.' || name === '..' || name.includes('\0')) return null;
  let pidText: string;
  try {
    pidText = await io.readText(`${runDir}/${name}.pid`);
  } catch {
    return null;
  }
  const pid = Number(pidText.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  return qemuProcessIfGuest(pid, name, io);
}

/** The QEMU process `pid` if its command line says `-name guest=<name>`, else null. */
export async function qemuProcessIfGuest(pid: number, name: string, io: PlatformIO = liveIO): Promise<QemuProcess | null> {
  let raw: string;
  try {
    raw = await io.readText(`/proc/${pid}/cmdline`);
  } catch {
    return null;
  }
  const cmdline = parseQemuCmdline(splitCmdline(raw));
  return cmdline.guestName === name ? { pid, cmdline } : null;
}

/**
 * The file QEMU creates for a memory-backend-file whose mem-path is a
 * directory (hugetlbfs): `<dir>/qemu_back_mem.<id>.<random>`, unlinked at
 * once (softmmu/physmem.c: file_ram_open, which also turns '/' in the id
 * into '_'), so smaps shows it with " (deleted)".
 */
function backingFilePrefix(id: string): string {
  return `qemu_back_mem.${id.replace(/\//g, '_')}.`;
}

function vmaMatches(vma: SmapsVma, backend: RamBackend): boolean {
  const path = vma.pathname.replace(/ \(deleted\)$/, '');
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base.startsWith(backingFilePrefix(backend.id))) return true;
  // mem-path naming a file (not a directory) is mapped under that name.
  return backend.memPath !== undefined && path === backend.memPath;
}

/**
 * Matches the RAM backends to VMAs of `smaps`. File backends match by
 * backing-file name; memory-backend-ram/memfd VMAs carry no name (memfd
 * ones read `/memfd:<id> (deleted)`, or `/memfd:memory-backend-memfd
 * (deleted)` as QEMU 7.2 names them), so they match on that name (the
 * latter by size too) or, for
 * anonymous RAM, on a VMA of exactly the backend's size (the first one in
 * address order not yet taken).
 */
export function matchRamBlocks(backends: readonly RamBackend[], smaps: readonly SmapsVma[]): GuestRamBlock[] {
  const taken = new Set<SmapsVma>();
  return backends.map((backend) => {
    let vma = smaps.find((v) => !taken.has(v) && vmaMatches(v, backend));
    if (!vma && backend.qomType === 'memory-backend-memfd') {
      vma = smaps.find((v) => !taken.has(v) && v.pathname.startsWith(`/memfd:${backend.id}`))
        // QEMU 7.2 names every memfd after its QOM type, not its id
        // (backends/hostmem-memfd.c: qemu_memfd_create(TYPE_MEMORY_BACKEND_MEMFD, ...)):
        // the first such VMA of the backend's size not yet taken.
        ?? smaps.find((v) => !taken.has(v) && v.pathname.startsWith('/memfd:memory-backend-memfd') && v.sizeBytes === backend.sizeBytes);
    }
    if (!vma && backend.qomType === 'memory-backend-ram') {
      vma = smaps.find((v) => !taken.has(v) && v.inode === 0 && v.pathname === '' && v.sizeBytes === backend.sizeBytes);
    }
    const block: GuestRamBlock = { ...backend };
    if (vma) {
      taken.add(vma);
      block.vma = {
        start: vma.start,
        end: vma.end,
        pathname: vma.pathname,
        hugetlb: vma.vmFlags.includes('ht'),
        kernelPageSizeBytes: vma.kernelPageSizeBytes,
        rssBytes: vma.rssBytes,
        swapBytes: vma.swapBytes,
        // hugetlb pages are not counted in Rss (fs/proc/task_mmu.c: smaps_hugetlb_range)
        hugetlbBytes: (vma.sizesBytes.Shared_Hugetlb ?? 0) + (vma.sizesBytes.Private_Hugetlb ?? 0),
      };
    }
    return block;
  });
}

/** The guest-RAM blocks of a QEMU process with their VMAs (reads /proc/PID/smaps). */
export async function readGuestRam(proc: QemuProcess, io: PlatformIO = liveIO): Promise<GuestRamBlock[]> {
  let smaps: SmapsVma[];
  try {
    smaps = await readSmaps(io, proc.pid);
  } catch (err) {
    throw new VirtTierError('OPT_INTER_ERR', `cannot read /proc/${proc.pid}/smaps: ${(err as Error).message}`, { field: 'pid', value: String(proc.pid) });
  }
  return matchRamBlocks(proc.cmdline.ramBackends, smaps);
}
