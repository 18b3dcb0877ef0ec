/**
 * /proc/meminfo and /sys/devices/system/node/nodeN/meminfo, as bytes
 * (fields printed in kB become bytes; HugePages_* counts stay counts).
 */
import type { PlatformIO } from './io.js';

/** Parses "Key: N kB" lines (and the per-node "Node N Key: N kB" form). */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(?:Node \d+ )?([\w()]+):\s+(\d+)(?: (kB))?$/.exec(line.trim());
    if (!m) continue;
    out[m[1]!] = m[3] ? Number(m[2]) * 1024 : Number(m[2]);
  }
  return out;
}

/** Reads /proc/meminfo. */
export async function readMeminfo(io: PlatformIO): Promise<Record<string, number>> {
  return parseMeminfo(await io.readText('/proc/meminfo'));
}
