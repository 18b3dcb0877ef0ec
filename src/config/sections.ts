/**
 * The schema of one section of each kind: which keys, which are required,
 * and each value's form and range (docs/configuration.md is the reference
 * for users; keep the two in step). Checks across sections are in
 * document.ts.
 */
import path from 'node:path';
import { FieldProblem, INT32_MAX, parseDomain, parseName, parseNodePairs, parsePid, parseProcessName, parseStrictInt } from './fields.js';
import type { RawSection } from './raw.js';
import { SectionReader } from './section-reader.js';
import { engineKindOf, pluginParams, readTaskParams, taskParamKeys } from './task-params.js';
import type { CslideEngineConfig, EngineConfig, EngineKind, HostFacts, ProjectConfig, SourceRef, TaskConfig, TaskType } from './types.js';
import { cslideEngineConfig, projectConfig, type ProjectFields } from './units.js';
import { invalidField } from '../errors.js';

function sourceOf(section: RawSection): SourceRef {
  const ref: SourceRef = { section: section.kind, index: section.index };
  if (section.line !== undefined) ref.line = section.line;
  return ref;
}

function oneOf<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    if ((choices as readonly string[]).includes(text)) return text as T;
    throw new FieldProblem(text === '' ? 'empty value' : 'not one of the choices', choices.join('|'));
  };
}

const int = (min: number, max: number, allowed?: string) => (text: string) => parseStrictInt(text, min, max, allowed);

export const PROJECT_KEYS = ['name', 'loop', 'interval', 'sleep', 'sysmem_threshold', 'swapcache_high_wmark', 'swapcache_low_wmark'] as const;

/** A project's settings: every key but `name`. */
export type ProjectSettings = Omit<ProjectFields, 'name' | 'source'>;

/**
 * Reads a project's settings (every key but `name`) from a section. The
 * config file's project sections and a domain's metadata policy
 * (src/virt/policy.ts) both read them here.
 */
export function readProjectSettings(r: SectionReader): ProjectSettings {
  const settings: ProjectSettings = {
    loop: r.required('loop', int(1, 120)),
    interval: r.required('interval', int(1, 1200, '1..1200 (seconds)')),
    sleep: r.required('sleep', int(1, 1200, '1..1200 (seconds)')),
  };
  const sysmem = r.optional('sysmem_threshold', int(0, 100, '0..100 (percent)'));
  if (sysmem !== undefined) settings.sysmem_threshold = sysmem;
  const high = r.optional('swapcache_high_wmark', int(1, 100, '1..100 (percent)'));
  const low = r.optional('swapcache_low_wmark', int(1, 100, '1..100 (percent)'));
  if (high !== undefined && low === undefined) throw r.missing('swapcache_low_wmark', '1..100, set together with swapcache_high_wmark');
  if (low !== undefined && high === undefined) throw r.missing('swapcache_high_wmark', '1..100, set together with swapcache_low_wmark');
  if (high !== undefined && low !== undefined) {
    if (high <= low) throw r.invalid('swapcache_high_wmark', `not above swapcache_low_wmark (${low})`, `${low + 1}..100`);
    settings.swapcache_high_wmark = high;
    settings.swapcache_low_wmark = low;
  }
  return settings;
}

export function buildProject(section: RawSection): ProjectConfig {
  const r = new SectionReader(section);
  r.rejectUnknownKeys(PROJECT_KEYS, 'a project');
  const name = r.required('name', (t) => parseName(t));
  return projectConfig({ name, ...readProjectSettings(r), source: sourceOf(section) });
}

export const ENGINE_KINDS: readonly EngineKind[] = ['slide', 'cslide', 'thirdparty'];
const ENGINE_COMMON_KEYS = ['project', 'name'] as const;
/** A cslide engine's keys besides `project` and `name`. */
export const CSLIDE_ENGINE_OWN_KEYS = ['node_pair', 'hot_threshold', 'node_mig_quota', 'node_hot_reserve'] as const;
/** virt-tier's own cslide engine keys (beyond etmem): the thrash guard and free-DRAM watermarks. */
export const CSLIDE_ENGINE_EXTRA_KEYS = ['thrash_rounds', 'thrash_margin', 'dram_free_low_wmark', 'dram_free_high_wmark'] as const;
const CSLIDE_ENGINE_KEYS = [...ENGINE_COMMON_KEYS, ...CSLIDE_ENGINE_OWN_KEYS, ...CSLIDE_ENGINE_EXTRA_KEYS] as const;
const THIRDPARTY_ENGINE_KEYS = ['eng_name', 'libname', 'ops_name'] as const;

/**
 * The value parsers of a cslide engine's own keys, for the config file's
 * engine sections and a domain's metadata policy alike.
 */
export function cslideEngineFields(host: HostFacts) {
  return {
    node_pair: (t: string) => parseNodePairs(t, host.numaNodes),
    hot_threshold: int(0, INT32_MAX),
    node_mig_quota: int(0, INT32_MAX, `0..${INT32_MAX} (MB)`),
    node_hot_reserve: int(0, INT32_MAX, `0..${INT32_MAX} (MB)`),
    thrash_rounds: int(0, 1000, '0..1000 (rounds; 0: no guard)'),
    thrash_margin: int(0, INT32_MAX),
    dram_free_low_wmark: int(0, INT32_MAX, `0..${INT32_MAX} (MB)`),
    dram_free_high_wmark: int(0, INT32_MAX, `0..${INT32_MAX} (MB)`),
  } satisfies Record<(typeof CSLIDE_ENGINE_OWN_KEYS)[number] | (typeof CSLIDE_ENGINE_EXTRA_KEYS)[number], (text: string) => unknown>;
}

/** The optional virt-tier engine keys of a cslide section, checked together (both watermarks or neither, low < high). */
export function cslideEngineExtras(r: SectionReader, fields: ReturnType<typeof cslideEngineFields>): Partial<Pick<CslideEngineConfig, 'thrash_rounds' | 'thrash_margin' | 'dram_free_low_wmark' | 'dram_free_high_wmark'>> {
  const out: Partial<Pick<CslideEngineConfig, 'thrash_rounds' | 'thrash_margin' | 'dram_free_low_wmark' | 'dram_free_high_wmark'>> = {};
  for (const key of CSLIDE_ENGINE_EXTRA_KEYS) {
    const v = r.optional(key, fields[key]);
    if (v !== undefined) out[key] = v;
  }
  const low = out.dram_free_low_wmark;
  const high = out.dram_free_high_wmark;
  if ((low === undefined) !== (high === undefined)) {
    throw invalidField(`${r.section.label ?? 'engine'}.${low === undefined ? 'dram_free_low_wmark' : 'dram_free_high_wmark'}`, '', 'both dram_free_low_wmark and dram_free_high_wmark, or neither', 'missing');
  }
  if (low !== undefined && high !== undefined && !(low < high)) {
    throw invalidField(`${r.section.label ?? 'engine'}.dram_free_high_wmark`, high, `> dram_free_low_wmark (${low})`, 'not above the low watermark');
  }
  return out;
}

/** A thirdparty engine's `eng_name`: tasks name engines by it, so it may not be a built-in engine's name. */
function parseEngName(text: string): string {
  const name = parseName(text);
  if (name === 'slide' || name === 'cslide') {
    throw new FieldProblem('is the name of a built-in engine', '1..64 characters, not slide or cslide');
  }
  return name;
}

function parseLibname(text: string): string {
  const allowed = 'an absolute path to a JS module';
  if (text === '') throw new FieldProblem('empty value', allowed);
  if (!path.isAbsolute(text)) throw new FieldProblem('not an absolute path', allowed);
  return text;
}

function parseOpsName(text: string): string {
  const allowed = 'the name of an export of the module ([A-Za-z_$][A-Za-z0-9_$]*)';
  if (text === '') throw new FieldProblem('empty value', allowed);
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(text)) throw new FieldProblem('not an export name', allowed);
  return text;
}

export function buildEngine(section: RawSection, host: HostFacts): EngineConfig {
  const r = new SectionReader(section);
  const kind = r.required('name', oneOf(ENGINE_KINDS));
  const source = sourceOf(section);
  if (kind === 'slide') {
    r.rejectUnknownKeys(ENGINE_COMMON_KEYS, 'a slide engine');
    return { project: r.required('project', (t) => parseName(t)), name: 'slide', source };
  }
  if (kind === 'cslide') {
    r.rejectUnknownKeys(CSLIDE_ENGINE_KEYS, 'a cslide engine');
    const fields = cslideEngineFields(host);
    return cslideEngineConfig({
      project: r.required('project', (t) => parseName(t)),
      name: 'cslide',
      node_pair: r.required('node_pair', fields.node_pair),
      hot_threshold: r.required('hot_threshold', fields.hot_threshold),
      node_mig_quota: r.required('node_mig_quota', fields.node_mig_quota),
      node_hot_reserve: r.required('node_hot_reserve', fields.node_hot_reserve),
      ...cslideEngineExtras(r, fields),
      source,
    });
  }
  // thirdparty: every key but its own goes to the plugin, which validates it when the engine is added.
  const own: readonly string[] = [...ENGINE_COMMON_KEYS, ...THIRDPARTY_ENGINE_KEYS];
  const params = pluginParams(section, [...section.entries.keys()].filter((key) => !own.includes(key)));
  return {
    project: r.required('project', (t) => parseName(t)),
    name: 'thirdparty',
    eng_name: r.required('eng_name', parseEngName),
    libname: r.required('libname', parseLibname),
    ops_name: r.required('ops_name', parseOpsName),
    params,
    source,
  };
}

export const TASK_COMMON_KEYS = ['project', 'engine', 'name', 'type', 'value'] as const;
const TASK_TYPES: readonly TaskType[] = ['pid', 'name', 'domain'];

export interface BuiltTask {
  task: TaskConfig;
  warnings: string[];
  reader: SectionReader;
}

export function buildTask(section: RawSection, host: HostFacts): BuiltTask {
  const r = new SectionReader(section);
  const engine = r.required('engine', (t) => parseName(t));
  const kind = engineKindOf(engine);
  const paramKeys = taskParamKeys(kind);
  if (paramKeys) r.rejectUnknownKeys([...TASK_COMMON_KEYS, ...paramKeys], `a ${kind} task`);
  const project = r.required('project', (t) => parseName(t));
  const name = r.required('name', (t) => parseName(t));
  const type = r.required('type', oneOf(TASK_TYPES));
  const parseValue = type === 'pid' ? (t: string) => String(parsePid(t)) : type === 'name' ? parseProcessName : parseDomain;
  const value = r.required('value', parseValue);
  const ownKeys = [...section.entries.keys()].filter((k) => !(TASK_COMMON_KEYS as readonly string[]).includes(k));
  const { params, warnings } = readTaskParams(kind, r, host, ownKeys);
  return { task: { project, engine, name, type, value, params, source: sourceOf(section) }, warnings, reader: r };
}
