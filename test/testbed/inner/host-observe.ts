/**
 * Inside the testbed: what the host-wide cslide tests and benchmarks read
 * besides the daemon's stats, i.e. the kernel's own accounts: /proc/vmstat
 * (pgmigrate_success, numa_pages_migrated, thp_migration_*, compaction) and
 * the per-node pgpromote_* and pgdemote_* counters, where each 2 MiB block of a
 * synthetic guest is (move_pages(2) queried for every kernel page, so a
 * block half moved shows as mixed), smaps AnonHugePages of a THP guest;
 * plus the config of one cslide engine with one task per guest and a
 * watcher that sees each round of that engine once, all tasks together.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../../../src/native/index.js';
import type { ProjectView } from '../../../src/model/registry.js';
import { testbedNodePair, type E2eDaemon } from './e2e-daemon.js';
import type { SyntheticGuest } from './synthetic-guest.js';

export const BLOCK_BYTES = 2 * 1024 * 1024;
/** a block whose kernel pages are not all on one node */
export const MIXED = -100;

/** The counters of /proc/vmstat (global) by name. */
export function readVmstat(file = '/proc/vmstat'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** The counters the tiering checks look at: global ones, and the per-node tiering ones where the kernel has them. */
export interface KernelCounters {
  global: Record<string, number>;
  /** node -> pgpromote_* / pgdemote_* of /sys/devices/system/node/nodeN/vmstat */
  byNode: Record<number, Record<string, number>>;
}

const GLOBAL_KEYS = /^(pgmigrate_success|pgmigrate_fail|numa_pages_migrated|numa_hint_faults|thp_migration_success|thp_migration_fail|thp_migration_split|compact_isolated|compact_migrate_scanned|pgpromote_success|pgpromote_candidate|pgdemote_\w+|thp_split_page|thp_collapse_alloc)$/;

export function kernelCounters(nodes: readonly number[] = [0, 1, 2, 3]): KernelCounters {
  const pick = (all: Record<string, number>, re: RegExp): Record<string, number> => Object.fromEntries(Object.entries(all).filter(([k]) => re.test(k)));
  const byNode: Record<number, Record<string, number>> = {};
  for (const n of nodes) {
    try {
      byNode[n] = pick(readVmstat(`/sys/devices/system/node/node${n}/vmstat`), /^(pgpromote_|pgdemote_|numa_)/);
    } catch {
      // an older kernel without per-node vmstat: the global counters still say it
    }
  }
  return { global: pick(readVmstat(), GLOBAL_KEYS), byNode };
}

/** b - a, key by key (keys of b). */
export function counterDelta(a: KernelCounters, b: KernelCounters): KernelCounters {
  const diff = (x: Record<string, number>, y: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(y).map(([k, v]) => [k, v - (x[k] ?? 0)]));
  return { global: diff(a.global, b.global), byNode: Object.fromEntries(Object.entries(b.byNode).map(([n, v]) => [n, diff(a.byNode[Number(n)] ?? {}, v)])) };
}

/**
 * Each 2 MiB block's node: every kernel page of it queried, the block's
 * node when they all agree, MIXED when not (a THP split and moved in part,
 * or 4 KiB pages moved apart), or the error status (< 0) of its first page.
 */
export async function blockNodes(guest: SyntheticGuest): Promise<number[]> {
  const perBlock = BLOCK_BYTES / guest.kernelPageSizeBytes;
  const blocks = (guest.pageCount * guest.pageSizeBytes) / BLOCK_BYTES;
  const addrs = new Float64Array(blocks * perBlock);
  for (let i = 0; i < addrs.length; i++) addrs[i] = guest.start + i * guest.kernelPageSizeBytes;
  const status = await native.movePages(guest.pid, addrs, null, 0);
  const out: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const first = status[b * perBlock]!;
    let node = first;
    for (let i = 1; i < perBlock && node !== MIXED; i++) if (status[b * perBlock + i] !== first) node = MIXED;
    out.push(node);
  }
  return out;
}

/** One VMA's smaps fields (kB) that say whether its memory is huge: AnonHugePages, ShmemPmdMapped, Rss. */
export function smapsHuge(pid: number, start: number): { rssKiB: number; anonHugeKiB: number; shmemPmdKiB: number; vmFlags: string[] } {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l) && parseInt(l.split('-')[0]!, 16) === start);
  if (header < 0) throw new Error(`smaps of ${pid}: no VMA at 0x${start.toString(16)}`);
  const field = (name: string): number => {
    for (let i = header + 1; i < lines.length && !/^[0-9a-f]+-[0-9a-f]+ /.test(lines[i]!); i++) {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`).exec(lines[i]!);
      if (m) return Number(m[1]);
    }
    return 0;
  };
  let vmFlags: string[] = [];
  for (let i = header + 1; i < lines.length && !/^[0-9a-f]+-[0-9a-f]+ /.test(lines[i]!); i++) {
    if (lines[i]!.startsWith('VmFlags:')) vmFlags = lines[i]!.slice(8).trim().split(/\s+/);
  }
  return { rssKiB: field('Rss'), anonHugeKiB: field('AnonHugePages'), shmemPmdKiB: field('ShmemPmdMapped'), vmFlags };
}

/** Free bytes per node (MemFree of /sys/devices/system/node/nodeN/meminfo): the pool THP and 4 KiB pages land in. */
export function nodeMemFree(nodes: readonly number[]): Record<number, { totalBytes: number; freeBytes: number }> {
  const out: Record<number, { totalBytes: number; freeBytes: number }> = {};
  for (const n of nodes) {
    const text = readFileSync(`/sys/devices/system/node/node${n}/meminfo`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;
    out[n] = { totalBytes: kb('MemTotal'), freeBytes: kb('MemFree') };
  }
  return out;
}

export interface HostTask {
  name: string;
  pid: number;
  /** `vm_flags=ht` (etmem's hugetlb selection) or `ram=KINDS` (virt-tier) */
  select: { vmFlags: 'ht' } | { ram: string };
  /** more task keys, e.g. weight, dram_min, dram_max */
  keys?: Record<string, string | number>;
}

export interface HostCslideConfig {
  project: string;
  loop: number;
  dramNode: number;
  aepNode: number;
  hotThreshold: number;
  quotaMiB: number;
  reserveMiB: number;
  tasks: readonly HostTask[];
}

/**
 * One project, ONE cslide engine, one task per guest, in etmem's INI form.
 * node_pair names every node of the testbed (etmem's rule, etmemd_cslide.c):
 * the pair of interest and the other two nodes as a second pair.
 */
export function hostCslideConfigText(c: HostCslideConfig): string {
  const tasks = c.tasks.map((t) => `[task]
project=${c.project}
engine=cslide
name=${t.name}
type=pid
value=${t.pid}
${'vmFlags' in t.select ? 'vm_flags=ht' : `ram=${t.select.ram}`}
${Object.entries(t.keys ?? {}).map(([k, v]) => `${k}=${v}\n`).join('')}`);
  return `[project]
name=${c.project}
loop=${c.loop}
interval=1
sleep=1

[engine]
project=${c.project}
name=cslide
node_pair=${testbedNodePair(c.dramNode, c.aepNode)}
hot_threshold=${c.hotThreshold}
node_mig_quota=${c.quotaMiB}
node_hot_reserve=${c.reserveMiB}

${tasks.join('\n')}`;
}

/**
 * Calls `onRound` once per round of the engine, when every task has
 * reported that round (one round runs all tasks of a cslide engine, so
 * their stats carry the same round number). Throws if a round number was
 * skipped, a task ended, or `timeoutMs` passed.
 */
export async function watchEngineRounds(
  daemon: E2eDaemon,
  project: string,
  tasks: readonly string[],
  onRound: (round: number, statsByTask: Record<string, Record<string, unknown>>) => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    const shown = (await daemon.call('project.show', { name: project })) as ProjectView[];
    // A project that is not there (its obj add failed) never reports a round: say so now, not at the timeout.
    if (shown.length === 0) throw new Error(`engine of ${project}: no such project in the daemon`);
    const views = shown[0]!.tasks;
    const ended = views.find((v) => v.ended);
    if (ended) throw new Error(`task ${ended.name} ended: ${ended.ended}`);
    const byTask: Record<string, Record<string, unknown>> = {};
    for (const t of tasks) {
      const v = views.find((x) => x.name === t);
      if (v?.stats) byTask[t] = v.stats;
    }
    const rounds = tasks.map((t) => byTask[t]?.round);
    const round = rounds[0];
    if (typeof round === 'number' && round !== last && rounds.every((r) => r === round)) {
      if (last >= 0 && round !== last + 1) throw new Error(`engine round watcher missed a round: ${last} -> ${round}`);
      last = round;
      if (await onRound(round, byTask)) return;
    }
    await sleep(100);
  }
  throw new Error(`engine of ${project}: gave up after ${timeoutMs} ms at round ${last}\n${daemon.log().slice(-3000)}`);
}
