/**
 * /proc/PID/smaps: one record per VMA with its sizes and VmFlags
 * (Documentation/filesystems/proc.rst, "smaps"). The tracker, the `pages`
 * command and guest-RAM discovery all pick VMAs from here.
 */
import type { PlatformIO } from './io.js';

/** One VMA. Sizes are bytes (smaps prints kB). */
export interface SmapsVma {
  start: number;
  end: number;
  /** e.g. "rw-p" */
  perms: string;
  /** offset into the backing file, bytes */
  offset: number;
  /** "fe:00" */
  dev: string;
  inode: number;
  /** backing file, "[heap]", "[stack]", "" for anonymous; may end in " (deleted)" */
  pathname: string;
  /** every "Key: N kB" field in bytes, keyed as printed (Size, Rss, Pss, Swap, KernelPageSize, ...) */
  sizesBytes: Record<string, number>;
  /** two-letter VmFlags ("rd", "wr", "ht", "hg", ...) */
  vmFlags: string[];
  sizeBytes: number;
  rssBytes: number;
  swapBytes: number;
  /** page size the kernel uses for this VMA (2 MiB for hugetlb 2M) */
  kernelPageSizeBytes: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/;
const FIELD = /^(\w+):\s+(\d+) kB$/;

/** Parses smaps text (also works on /proc/PID/maps: no sizes, no flags). */
export function parseSmaps(text: string): SmapsVma[] {
  const vmas: SmapsVma[] = [];
  let cur: SmapsVma | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const header = HEADER.exec(line);
    if (header) {
      cur = {
        start: parseInt(header[1]!, 16),
        end: parseInt(header[2]!, 16),
        perms: header[3]!,
        offset: parseInt(header[4]!, 16),
        dev: header[5]!,
        inode: Number(header[6]),
        pathname: header[7]!.trim(),
        sizesBytes: {},
        vmFlags: [],
        sizeBytes: 0,
        rssBytes: 0,
        swapBytes: 0,
        kernelPageSizeBytes: 4096,
      };
      cur.sizeBytes = cur.end - cur.start;
      vmas.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('VmFlags:')) {
      cur.vmFlags = line.slice('VmFlags:'.length).trim().split(/\s+/).filter((f) => f !== '');
      continue;
    }
    const field = FIELD.exec(line);
    if (field) {
      const bytes = Number(field[2]) * 1024;
      cur.sizesBytes[field[1]!] = bytes;
      if (field[1] === 'Rss') cur.rssBytes = bytes;
      else if (field[1] === 'Swap') cur.swapBytes = bytes;
      else if (field[1] === 'KernelPageSize') cur.kernelPageSizeBytes = bytes;
    }
  }
  return vmas;
}

/** Reads and parses /proc/PID/smaps. */
export async function readSmaps(io: PlatformIO, pid: number): Promise<SmapsVma[]> {
  return parseSmaps(await io.readText(`/proc/${pid}/smaps`));
}

/** True when the VMA carries every flag in `flags` (e.g. ['ht'] for hugetlb). */
export function hasVmFlags(vma: SmapsVma, flags: readonly string[]): boolean {
  return flags.every((f) => vma.vmFlags.includes(f));
}

/** Anonymous private memory (no file, not a special mapping like [vdso]). */
export function isAnonymous(vma: SmapsVma): boolean {
  return vma.inode === 0 && (vma.pathname === '' || vma.pathname === '[heap]' || vma.pathname === '[stack]' || vma.pathname.startsWith('[anon'));
}
