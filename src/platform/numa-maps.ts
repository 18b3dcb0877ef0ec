/**
 * /proc/PID/numa_maps: per-VMA memory policy and pages per node
 * (Documentation/admin-guide/mm/numa_memory_policy.rst; proc(5)). Counts
 * are in the VMA's page size (`kernelpagesize_kB`).
 */
import type { PlatformIO } from './io.js';

export interface NumaMapsEntry {
  start: number;
  /** "default", "bind:0-1", "prefer:2", "interleave:0-3", ... */
  policy: string;
  file?: string;
  /** heap, stack, huge, anon=N, dirty=N, ...: every key=value as a number, bare words as 1 */
  fields: Record<string, number>;
  /** node id -> pages on that node (in kernelPageSizeBytes units) */
  pagesByNode: Map<number, number>;
  kernelPageSizeBytes: number;
}

/** Parses numa_maps text. */
export function parseNumaMaps(text: string): NumaMapsEntry[] {
  const out: NumaMapsEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 2 || !/^[0-9a-f]+$/.test(words[0]!)) continue;
    const entry: NumaMapsEntry = {
      start: parseInt(words[0]!, 16),
      policy: words[1]!,
      fields: {},
      pagesByNode: new Map(),
      kernelPageSizeBytes: 4096,
    };
    for (const word of words.slice(2)) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        entry.fields[word] = 1;
        continue;
      }
      const key = word.slice(0, eq);
      const value = word.slice(eq + 1);
      if (key === 'file') entry.file = value;
      else if (/^N\d+$/.test(key)) entry.pagesByNode.set(Number(key.slice(1)), Number(value));
      else if (key === 'kernelpagesize_kB') entry.kernelPageSizeBytes = Number(value) * 1024;
      else entry.fields[key] = Number(value);
    }
    out.push(entry);
  }
  return out;
}

/** Reads and parses /proc/PID/numa_maps. */
export async function readNumaMaps(io: PlatformIO, pid: number): Promise<NumaMapsEntry[]> {
  return parseNumaMaps(await io.readText(`/proc/${pid}/numa_maps`));
}
