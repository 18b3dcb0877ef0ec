/**
 * Resolves a task's target (`type=pid|name|domain`) to live pids, afresh on
 * every cycle: a named process may restart with a new pid, and a domain's
 * QEMU pid changes when the guest restarts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { TaskConfig } from '../config/types.js';

/** Resolves a libvirt domain (name or UUID) to its QEMU pid, or null when it is not running. Set by the daemon when libvirt is available. */
export type DomainPidResolver = (nameOrUuid: string) => Promise<number | null>;

let domainResolver: DomainPidResolver | null = null;

export function setDomainPidResolver(resolver: DomainPidResolver | null): void {
  domainResolver = resolver;
}

/** True when /proc/PID exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised comm, which may contain spaces) is the state.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids whose process name (/proc/PID/comm, at most 15 chars as etmem matches) equals `name`. */
export function pidsByName(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue; // never target the daemon itself
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
    } catch {
      continue; // exited while we listed
    }
    if (comm === name && pidAlive(pid)) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

export async function resolveTaskPids(task: Pick<TaskConfig, 'type' | 'value'>): Promise<number[]> {
  switch (task.type) {
    case 'pid': {
      const pid = Number(task.value);
      return pid !== process.pid && pidAlive(pid) ? [pid] : [];
    }
    case 'name':
      return pidsByName(task.value);
    case 'domain': {
      if (!domainResolver) return [];
      const pid = await domainResolver(task.value);
      return pid !== null && pidAlive(pid) ? [pid] : [];
    }
  }
}
