/**
 * A process's VMAs from /proc/PID/smaps (address range, pathname, VmFlags)
 * and the VMA filter trackers apply (cslide: every VMA carrying `ht`).
 * Kept to the fields trackers need; see proc(5) for the format.
 */
import { readFile } from 'node:fs/promises';
import type { AccessMapVma } from './access-map.js';
import type { VmaFilter } from './tracker.js';
import { SysError } from '../native/errors.js';

const HEADER = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/;

/** Parses smaps text into VMAs in address order. */
export function parseSmapsVmas(text: string): AccessMapVma[] {
  const vmas: AccessMapVma[] = [];
  let current: AccessMapVma | null = null;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      current = { start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), vmFlags: [], pathname: header[3]!.trim() };
      vmas.push(current);
    } else if (current && line.startsWith('VmFlags:')) {
      current.vmFlags = line.slice('VmFlags:'.length).trim().split(/\s+/).filter(Boolean);
    }
  }
  return vmas;
}

/** Reads and parses /proc/PID/smaps (or `path`); a process that is gone rejects with SysError ESRCH, as trackers promise. */
export async function readVmas(pid: number, path = `/proc/${pid}/smaps`): Promise<AccessMapVma[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new SysError('ESRCH', 3, 'open', `${path}: process ${pid} is gone`);
    throw err;
  }
  return parseSmapsVmas(text);
}

/** Anonymous memory as smaps names it: no path, the heap, a stack, or a named anonymous mapping. */
export function isAnonymousVma(vma: Pick<AccessMapVma, 'pathname'>): boolean {
  const p = vma.pathname;
  return p === '' || p === '[heap]' || p.startsWith('[stack') || p.startsWith('[anon:');
}

/** VMAs that carry every flag of the filter (and are anonymous, with anonOnly). */
export function filterVmas(vmas: readonly AccessMapVma[], filter: VmaFilter): AccessMapVma[] {
  return vmas.filter((v) => filter.vmFlags.every((f) => v.vmFlags.includes(f)) && (!filter.anonOnly || isAnonymousVma(v)));
}
