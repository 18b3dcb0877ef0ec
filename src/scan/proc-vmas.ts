/**
 * A process's VMAs as trackers need them (address range, pathname, VmFlags;
 * parsed by src/platform/smaps.ts) and the VMA filter trackers apply
 * (cslide: every VMA carrying `ht`).
 */
import type { AccessMapVma } from './access-map.js';
import type { VmaFilter } from './tracker.js';
import { processGone } from '../errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { parseSmaps } from '../platform/smaps.js';

/** Parses smaps text into VMAs in address order. */
export function parseSmapsVmas(text: string): AccessMapVma[] {
  return parseSmaps(text).map(({ start, end, vmFlags, pathname }) => ({ start, end, vmFlags, pathname }));
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

/** Anonymous memory as smaps names it: no path, the heap, a stack, or a named anonymous mapping. */
export function isAnonymousVma(vma: Pick<AccessMapVma, 'pathname'>): boolean {
  const p = vma.pathname;
  return p === '' || p === '[heap]' || p.startsWith('[stack') || p.startsWith('[anon');
}

/** VMAs that carry every flag of the filter (and are anonymous, with anonOnly). */
export function filterVmas(vmas: readonly AccessMapVma[], filter: VmaFilter): AccessMapVma[] {
  return vmas.filter((v) => filter.vmFlags.every((f) => v.vmFlags.includes(f)) && (!filter.anonOnly || isAnonymousVma(v)));
}
