/**
 * /proc/PID/numa_maps, the kernel's own account of where a process's pages
 * are (fs/proc/task_mmu.c, show_numa_map): the independent check the
 * testbed tests compare move_pages results against.
 */
import { readFileSync } from 'node:fs';

export interface NumaMapsEntry {
  start: number;
  /** pages per node, in the VMA's page size (`kernelpagesize_kB`) */
  pagesByNode: Record<number, number>;
  kernelPageSizeKiB: number;
  huge: boolean;
  file?: string;
}

export function parseNumaMaps(text: string): NumaMapsEntry[] {
  const out: NumaMapsEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || !/^[0-9a-f]+$/.test(fields[0]!)) continue;
    const entry: NumaMapsEntry = { start: parseInt(fields[0]!, 16), pagesByNode: {}, kernelPageSizeKiB: 4, huge: false };
    for (const f of fields.slice(2)) {
      const node = /^N(\d+)=(\d+)$/.exec(f);
      if (node) entry.pagesByNode[Number(node[1])] = Number(node[2]);
      else if (f === 'huge') entry.huge = true;
      else if (f.startsWith('kernelpagesize_kB=')) entry.kernelPageSizeKiB = Number(f.slice(18));
      else if (f.startsWith('file=')) entry.file = f.slice(5);
    }
    out.push(entry);
  }
  return out;
}

/** The numa_maps entry of the VMA starting at `start` of `pid`. */
export function numaMapsAt(pid: number, start: number): NumaMapsEntry {
  const entry = parseNumaMaps(readFileSync(`/proc/${pid}/numa_maps`, 'utf8')).find((e) => e.start === start);
  if (!entry) throw new Error(`numa_maps of ${pid}: no VMA at 0x${start.toString(16)}`);
  return entry;
}
