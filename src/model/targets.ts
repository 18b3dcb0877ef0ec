/**
 * Resolves a task's target (`type=pid|name|domain`) to live pids, afresh on
 * every cycle: a named process may restart with a new pid, and a domain's
 * QEMU pid changes when the guest restarts. Reads /proc through an injected
 * PlatformIO (asynchronously: a /proc walk on every cycle must not block
 * the daemon's event loop), and the domain lookup is injected too.
 */
import type { TaskConfig } from '../config/types.js';
import { liveIO, type PlatformIO } from '../platform/io.js';

/** Resolves a libvirt domain (name or UUID) to its QEMU pid, or null when it is not running. Given by the daemon when libvirt is available. */
export type DomainPidResolver = (nameOrUuid: string) => Promise<number | null>;

export interface TargetResolver {
  resolve(task: Pick<TaskConfig, 'type' | 'value'>): Promise<number[]>;
}

/** True when /proc/PID exists and is not a zombie (proc(5): /proc/PID/stat field 3). */
export async function pidAlive(pid: number, io: PlatformIO = liveIO): Promise<boolean> {
  let stat: string;
  try {
    stat = await io.readText(`/proc/${pid}/stat`);
  } catch {
    return false;
  }
  // Field 3 (after the parenthesised comm, which may contain spaces) is the state.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Pids whose process name (/proc/PID/comm, at most 15 chars as etmem matches) equals `name`, never `selfPid`. */
export async function pidsByName(name: string, io: PlatformIO = liveIO, selfPid = process.pid): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await io.readDir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === selfPid) continue; // never target the daemon itself
    let comm: string;
    try {
      comm = (await io.readText(`/proc/${pid}/comm`)).replace(/\n$/, '');
    } catch {
      continue; // exited while we listed
    }
    if (comm === name && (await pidAlive(pid, io))) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** A resolver over `io` (default the live /proc); `domainPid` null or absent: domain targets resolve to nothing. */
export function createTargetResolver(opts: { io?: PlatformIO; domainPid?: DomainPidResolver | null; selfPid?: number } = {}): TargetResolver {
  const io = opts.io ?? liveIO;
  const domainPid = opts.domainPid ?? null;
  const selfPid = opts.selfPid ?? process.pid;
  return {
    async resolve(task) {
      switch (task.type) {
        case 'pid': {
          const pid = Number(task.value);
          return pid !== selfPid && (await pidAlive(pid, io)) ? [pid] : [];
        }
        case 'name':
          return pidsByName(task.value, io, selfPid);
        case 'domain': {
          if (!domainPid) return [];
          const pid = await domainPid(task.value);
          return pid !== null && (await pidAlive(pid, io)) ? [pid] : [];
        }
      }
    },
  };
}
