/**
 * Pure value parsers for config keys. Each takes the text as written and
 * returns the typed value or throws a FieldProblem (why + allowed form);
 * the schema adds the section, key and line. Nothing here knows where a
 * value came from, so the model can reuse these on values from any source.
 */
import { VirtTierError } from '../errors.js';
import { RAM_KINDS, type RamKind } from './types.js';
import type { NodePair } from './types.js';

/**
 * Why a value was refused and what would have been accepted: an OPT_INVAL
 * VirtTierError without a field yet (SectionReader adds section, key and
 * line). A typed VirtTierError, not a separate error kind.
 */
export class FieldProblem extends VirtTierError {
  declare readonly allowed: string;

  constructor(
    readonly why: string,
    allowed: string,
  ) {
    super('OPT_INVAL', `${why}; allowed: ${allowed}`, { allowed });
    this.name = 'FieldProblem';
  }
}

export const INT32_MAX = 2147483647;

/**
 * The largest pid Linux hands out: pids are allocated in [1, pid_max) and
 * pid_max is at most PID_MAX_LIMIT = 4 * 1024 * 1024 on 64-bit kernels
 * (include/linux/threads.h; kernel/pid.c alloc_pid's idr_alloc_cyclic has
 * an exclusive end).
 */
export const PID_MAX = 4194303;

/** TASK_COMM_LEN - 1: the longest name /proc/PID/comm shows (etmem's limit). */
export const PROCESS_NAME_MAX = 15;

/**
 * libvirt keeps a persistent domain as `/etc/libvirt/qemu/NAME.xml`, so a
 * name is one path component: no `/`, at most NAME_MAX (255) - 4 bytes.
 */
export const DOMAIN_NAME_MAX_BYTES = 251;

const DECIMAL = /^[+-]?[0-9]+$/;

function integerHint(text: string): string {
  if (/^[+-]?0[xX]/.test(text)) return 'not a decimal integer (hex is not accepted)';
  if (/^[+-]?[0-9]*\.[0-9]*$/.test(text)) return 'not an integer';
  if (/\s#/.test(text)) return 'not an integer (a # starts a comment only at the start of a line)';
  return 'not a decimal integer';
}

/**
 * Strict decimal integer in [min, max]: optional sign, digits, nothing
 * else. etmem's strtol-based reader accepts trailing garbage and truncates
 * `4294967297` to 1; this refuses both.
 */
export function parseStrictInt(text: string, min: number, max: number, allowed = `${min}..${max}`): number {
  if (text === '') throw new FieldProblem('empty value', allowed);
  if (!DECIMAL.test(text)) throw new FieldProblem(integerHint(text), allowed);
  // Digits only, so Number() is exact below 2^53 and any longer input is far outside every range here.
  const n = Number(text);
  if (n < min || n > max) throw new FieldProblem('out of range', allowed);
  return n + 0; // -0 -> 0
}

/** `yes` or `no`, as etmem writes booleans. */
export function parseYesNo(text: string): boolean {
  if (text === 'yes') return true;
  if (text === 'no') return false;
  throw new FieldProblem(text === '' ? 'empty value' : 'not yes or no', 'yes|no');
}

// Names end up in CLI tables, logs and socket frames: no control characters.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Project, engine and task names: 1..maxChars characters, no control characters. */
export function parseName(text: string, maxChars = 64): string {
  const allowed = `1..${maxChars} characters, no control characters`;
  const length = [...text].length;
  if (length === 0) throw new FieldProblem('empty value', allowed);
  if (length > maxChars) throw new FieldProblem(`too long (${length} characters)`, allowed);
  if (CONTROL.test(text)) throw new FieldProblem('contains a control character', allowed);
  return text;
}

/**
 * A pid for `type=pid`. `min` is 0 for slide: etmem's slide takes pid 0 at
 * add time and looks the pid up each cycle (etmem's llt pin it); cslide
 * needs a live process at add time, so 0 is never valid there.
 */
export function parsePid(text: string, min = 1): number {
  return parseStrictInt(text, min, PID_MAX, `a pid, ${min}..${PID_MAX}`);
}

const PROCESS_NAME = /^[A-Za-z0-9.%/_-]+$/;

/** A process name for `type=name`: what /proc/PID/comm shows, etmem's character set. */
export function parseProcessName(text: string): string {
  const allowed = `a process name, 1..${PROCESS_NAME_MAX} characters of [A-Za-z0-9.%/_-]`;
  if (text === '') throw new FieldProblem('empty value', allowed);
  if (text.length > PROCESS_NAME_MAX) throw new FieldProblem(`too long (${text.length} characters)`, allowed);
  if (!PROCESS_NAME.test(text)) throw new FieldProblem('contains a character outside [A-Za-z0-9.%/_-]', allowed);
  return text;
}

/** A libvirt domain name or UUID for `type=domain` (a UUID is also a valid name; libvirt tells them apart). */
export function parseDomain(text: string): string {
  const allowed = `a libvirt domain name (1..${DOMAIN_NAME_MAX_BYTES} bytes, no '/', no control characters) or UUID`;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes === 0) throw new FieldProblem('empty value', allowed);
  if (bytes > DOMAIN_NAME_MAX_BYTES) throw new FieldProblem(`too long (${bytes} bytes)`, allowed);
  if (text.includes('/')) throw new FieldProblem("contains '/'", allowed);
  if (CONTROL.test(text)) throw new FieldProblem('contains a control character', allowed);
  return text;
}

/**
 * cslide's `node_pair`: `DRAM,AEP;DRAM,AEP...`, the first node of each
 * pair is the hot (DRAM) one. As etmem (etmemd_cslide.c fill_node_pair,
 * has_node_unmap): pairs are separated by `;` or blanks and empty pairs are
 * skipped (`0,1;` is fine), every id must be a NUMA node of this host, no
 * node may appear twice, and every node of the host must be mapped: the
 * engine plans the whole host, so a node left out would hold pages no pair
 * accounts for. A host with an odd number of nodes therefore has no valid
 * node_pair. virt-tier refuses a pair of more than two ids (etmem ignores
 * the rest).
 */
export function parseNodePairs(text: string, numaNodes: readonly number[]): NodePair[] {
  const nodes = `${numaNodes.join(',')}`;
  const allowed = `DRAM,AEP[;DRAM,AEP...] covering every node of this host (${nodes}) exactly once`;
  const pairTexts = text.split(/[ ;]+/).filter((p) => p !== '');
  if (pairTexts.length === 0) throw new FieldProblem(text === '' ? 'empty value' : 'no pair', allowed);
  const seen = new Set<number>();
  const pairs: NodePair[] = [];
  for (const [i, pairText] of pairTexts.entries()) {
    const ids = pairText.split(',').filter((id) => id !== '');
    if (ids.length !== 2) throw new FieldProblem(`pair ${i + 1} ${JSON.stringify(pairText)} is not two node ids`, allowed);
    const [dram, aep] = ids.map((id, j) => {
      const role = j === 0 ? 'DRAM' : 'AEP';
      if (!/^[0-9]+$/.test(id)) throw new FieldProblem(`pair ${i + 1}: ${role} node ${JSON.stringify(id)} is not a node id`, allowed);
      const n = Number(id);
      if (!numaNodes.includes(n)) throw new FieldProblem(`pair ${i + 1}: node ${id} does not exist on this host`, allowed);
      if (seen.has(n)) throw new FieldProblem(`pair ${i + 1}: node ${id} appears twice`, allowed);
      seen.add(n);
      return n;
    }) as [number, number];
    pairs.push({ dram, aep });
  }
  const unmapped = numaNodes.filter((n) => !seen.has(n));
  if (unmapped.length > 0) throw new FieldProblem(`node${unmapped.length > 1 ? 's' : ''} ${unmapped.join(',')} of this host in no pair`, allowed);
  return pairs;
}

/** The longest `swap_threshold` etmem takes (etmemd_common.c get_swap_threshold_inKB): 10 characters. */
export const SWAP_THRESHOLD_MAX_CHARS = 10;

/**
 * slide's `swap_threshold`: digits then `g` or `G` (GiB, as etmem), at most
 * 10 characters, so `999999999g` is fine; returned in bytes, or undefined
 * for 0 (etmem stores 0 as "not set", and so does virt-tier; a bare `g` is
 * 0). Sizes beyond 2^53 bytes (8 PiB) lose precision as a JS number, which
 * only matters for comparisons against RSS values no host reaches.
 */
export function parseSwapThresholdBytes(text: string): number | undefined {
  const allowed = `NNg or NNG (GiB), at most ${SWAP_THRESHOLD_MAX_CHARS} characters`;
  if (text === '') throw new FieldProblem('empty value', allowed);
  if (text.length > SWAP_THRESHOLD_MAX_CHARS) throw new FieldProblem(`too long (${text.length} characters)`, allowed);
  const m = /^([0-9]*)[gG]$/.exec(text);
  if (!m) throw new FieldProblem('not a size in GiB', allowed);
  const gib = m[1] === '' ? 0 : Number(m[1]);
  return gib === 0 ? undefined : gib * 1024 * 1024 * 1024;
}

/**
 * cslide's `ram` (virt-tier): which guest RAM a task tiers besides etmem's
 * `vm_flags=ht`, as a comma- or blank-separated list: `hugetlb` (hugetlbfs,
 * any page size: what vm_flags=ht selects), `thp` (private anonymous VMAs
 * advised MADV_HUGEPAGE, VmFlag hg: QEMU's anonymous guest RAM under THP),
 * `anon` (any private anonymous VMA), `shared` (memfd, /dev/shm or SysV
 * shared memory: memfd-backed guest RAM, vhost-user).
 */
export { RAM_KINDS, type RamKind };

export function parseRamKinds(text: string): RamKind[] {
  const allowed = RAM_KINDS.join('|') + ' (a list)';
  const kinds = text.split(/[\s,]+/).filter((k) => k !== '');
  if (kinds.length === 0) throw new FieldProblem('empty value', allowed);
  for (const k of kinds) if (!(RAM_KINDS as readonly string[]).includes(k)) throw new FieldProblem(`unknown kind ${JSON.stringify(k)}`, allowed);
  return [...new Set(kinds as RamKind[])];
}

/** cslide's `vm_flags`: one smaps VmFlag; only `ht` (hugetlb) is supported, and only once, as in etmem (etmemd_cslide.c fill_task_vm_flags). */
export function parseVmFlags(text: string): string[] {
  const allowed = 'ht';
  const flags = text.split(/\s+/).filter((f) => f !== '');
  if (flags.length === 0) throw new FieldProblem('empty value', allowed);
  for (const f of flags) if (f !== 'ht') throw new FieldProblem(`unsupported flag ${JSON.stringify(f)}`, allowed);
  if (flags.length > 1) throw new FieldProblem('more than one flag', allowed);
  return ['ht'];
}
