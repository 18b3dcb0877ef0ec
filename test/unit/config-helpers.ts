/** Shared builders for the config tests: sections as key/value records, written out as INI or YAML text. */
import assert from 'node:assert/strict';
import { VirtTierError } from '../../src/errors.js';
import type { HostFacts } from '../../src/config/types.js';

/** A four-node host (cslide node_pair needs more than one node), two CPUs: max_threads clamps at 5. */
export const HOST: HostFacts = { numaNodes: [0, 1, 2, 3], cpuCount: 2 };

export type Kind = 'project' | 'engine' | 'task';
export type Section = [Kind, Record<string, string>];

export const project = (extra: Record<string, string> = {}): Section => ['project', { name: 'p1', loop: '3', interval: '1', sleep: '2', ...extra }];
export const slideEngine = (extra: Record<string, string> = {}): Section => ['engine', { project: 'p1', name: 'slide', ...extra }];
export const cslideEngine = (extra: Record<string, string> = {}): Section => [
  'engine',
  { project: 'p1', name: 'cslide', node_pair: '0,2;1,3', hot_threshold: '1', node_mig_quota: '1024', node_hot_reserve: '0', ...extra },
];
export const thirdpartyEngine = (extra: Record<string, string> = {}): Section => [
  'engine',
  { project: 'p1', name: 'thirdparty', eng_name: 'watch', libname: '/opt/virt-tier/plugins/watch.js', ops_name: 'watchEngine', ...extra },
];
export const slideTask = (extra: Record<string, string> = {}): Section => [
  'task',
  { project: 'p1', engine: 'slide', name: 't1', type: 'name', value: 'qemu-kvm', T: '2', ...extra },
];
export const cslideTask = (extra: Record<string, string> = {}): Section => [
  'task',
  { project: 'p1', engine: 'cslide', name: 't2', type: 'pid', value: '1', vm_flags: 'ht', ...extra },
];

/** Drops keys whose value is undefined (to test a missing key) from a section. */
export function without(section: Section, ...keys: string[]): Section {
  const copy = { ...section[1] };
  for (const k of keys) delete copy[k];
  return [section[0], copy];
}

export function iniOf(sections: Section[]): string {
  return sections.map(([kind, keys]) => `[${kind}]\n${Object.entries(keys).map(([k, v]) => `${k}=${v}`).join('\n')}\n`).join('\n');
}

/** Flat YAML lists; every value single-quoted so it is taken exactly as written. */
export function yamlOf(sections: Section[]): string {
  const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;
  let out = '';
  for (const kind of ['project', 'engine', 'task'] as const) {
    const ofKind = sections.filter(([k]) => k === kind);
    if (ofKind.length === 0) continue;
    out += `${kind}s:\n`;
    for (const [, keys] of ofKind) {
      const entries = Object.entries(keys);
      if (entries.length === 0) {
        out += '  - {}\n';
        continue;
      }
      entries.forEach(([k, v], i) => (out += `${i === 0 ? '  - ' : '    '}${k}: ${quote(v)}\n`));
    }
  }
  return out;
}

/**
 * The result code etmem gives a config error at `field` (etmemd_project.c):
 * project keys, the identity keys of engines and tasks (missing, or a name
 * too long), unknown and duplicate keys (virt-tier's own refusals) are
 * OPT_INVAL; every other engine and task key is OPT_INTER_ERR, and so is
 * an empty task name.
 */
export function etmemCodeOf(field: string, message: string): 'OPT_INVAL' | 'OPT_INTER_ERR' {
  const m = /^(engine|task)\[\d+\]\.(.+)$/.exec(field);
  if (!m) return 'OPT_INVAL';
  const [, kind, key] = m;
  if (/unknown key|duplicate key|one .* engine per project|unique within the engine/.test(message)) return 'OPT_INVAL';
  if (key === 'project') return 'OPT_INVAL';
  if (kind === 'task' && key === 'engine') return 'OPT_INVAL';
  if (/missing required key/.test(message) && (key === 'name')) return 'OPT_INVAL';
  if (/too long/.test(message) && (key === 'name' || key === 'eng_name')) return 'OPT_INVAL';
  return 'OPT_INTER_ERR';
}

/**
 * Asserts that fn throws the config error etmem gives (etmemCodeOf: OPT_INVAL
 * or OPT_INTER_ERR) naming `field`, and optionally that the message holds
 * each of `inMessage`.
 */
export function assertInvalid(fn: () => unknown, field: string, ...inMessage: string[]): VirtTierError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VirtTierError, `expected a VirtTierError naming ${field}, got ${String(caught)}`);
  assert.equal(caught.code, etmemCodeOf(field, caught.message), caught.message);
  assert.equal(caught.field, field, caught.message);
  for (const s of inMessage) assert.ok(caught.message.includes(s), `message ${JSON.stringify(caught.message)} should include ${JSON.stringify(s)}`);
  return caught;
}
