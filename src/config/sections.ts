/**
 * The schema of one section of each kind: which keys, which are required,
 * and each value's form and range (docs/configuration.md is the reference
 * for users; keep the two in step). Checks across sections are in
 * document.ts.
 */
import path from 'node:path';
import { FieldProblem, INT32_MAX, parseDomain, parseName, parseNodePairs, parsePid, parseProcessName, parseStrictInt } from './fields.js';
import { asInternal, type RawSection } from './raw.js';
import { SectionReader } from './section-reader.js';
import { engineKindOf, pluginParams, readTaskParams, taskParamKeys } from './task-params.js';
import { DAMON_ACTIONS, type CslideEngineConfig, type DamonEngineConfig, type EngineConfig, type EngineKind, type HostFacts, type ObjectRefs, type ProjectConfig, type RegionScanConfig, type SourceRef, type TaskConfig, type TaskType } from './types.js';
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

export const PROJECT_KEYS = ['name', 'scan_type', 'loop', 'interval', 'sleep', 'sysmem_threshold', 'swapcache_high_wmark', 'swapcache_low_wmark'] as const;

/** A project's settings: every key but `name`. */
export type ProjectSettings = Omit<ProjectFields, 'name' | 'source'>;

/**
 * Reads a project's settings (every key but `name`) from a section. The
 * config file's project sections and a domain's metadata policy
 * (src/virt/policy.ts) both read them here.
 */
export function readProjectSettings(r: SectionReader): ProjectSettings {
  // etmem's code requires scan_type (etmemd_project.c fill_project_scan_type) and its own test writer always
  // emits it; virt-tier also takes files from etmem releases before it, where it is absent (page).
  r.optional('scan_type', parseScanType);
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

/** `scan_type` of a page project: `page` (slide, cslide, thirdparty). `region` is read by buildProject. */
function parseScanType(text: string): 'page' {
  const allowed = 'page|region (region: a [project] section of a config file, for the damon engine)';
  if (text === 'page') return 'page';
  if (text === 'region') throw new FieldProblem('a region project (damon) is only made from a config file\'s [project] section', allowed);
  throw new FieldProblem(text === '' ? 'empty value' : 'not one of the choices', allowed);
}

/** The keys of a `scan_type=region` project (etmemd_project.c g_region_scan_config_items). */
export const REGION_PROJECT_KEYS = ['name', 'scan_type', 'sample_interval', 'aggr_interval', 'update_interval', 'min_nr_regions', 'max_nr_regions'] as const;
const UINT32_MAX = 4294967295;

/**
 * A region project's DAMON attributes. etmem requires all five and
 * min_nr_regions < max_nr_regions, both at least 3 (MIN_NR_MIN_VAL); it
 * takes the intervals as any unsigned long. virt-tier also asks what
 * DAMON's sysfs refuses at `on` (mm/damon/core.c damon_set_attrs):
 * sample <= aggr <= update.
 */
function readRegionScan(r: SectionReader): RegionScanConfig {
  const us = (what: string) => int(1, UINT32_MAX, `1..${UINT32_MAX} (microseconds${what})`);
  const sample = r.required('sample_interval', us(''));
  const aggr = r.required('aggr_interval', us(', >= sample_interval'));
  const update = r.required('update_interval', us(', >= aggr_interval'));
  const minNr = r.required('min_nr_regions', int(3, UINT32_MAX, `3..${UINT32_MAX - 1}, below max_nr_regions`));
  const maxNr = r.required('max_nr_regions', int(3, UINT32_MAX, `4..${UINT32_MAX}, above min_nr_regions`));
  if (aggr < sample) throw r.invalid('aggr_interval', `below sample_interval (${sample})`, `${sample}..${UINT32_MAX} (microseconds, >= sample_interval)`);
  if (update < aggr) throw r.invalid('update_interval', `below aggr_interval (${aggr})`, `${aggr}..${UINT32_MAX} (microseconds, >= aggr_interval)`);
  if (minNr >= maxNr) throw r.invalid('max_nr_regions', `not above min_nr_regions (${minNr})`, `${minNr + 1}..${UINT32_MAX}`);
  return { sample_interval: sample, aggr_interval: aggr, update_interval: update, min_nr_regions: minNr, max_nr_regions: maxNr };
}

/**
 * A name that refers to an object (an engine's or task's `project`, a
 * task's `engine`): as parseName, but empty is let through, so the lookup
 * answers it as etmem does (OPT_PRO_NOEXIST / OPT_ENG_NOEXIST).
 */
function parseRefName(text: string): string {
  return text === '' ? '' : parseName(text);
}

/** A task's own `name`: too long is OPT_INVAL (etmem's name check), empty is OPT_INTER_ERR (etmem's task fill). */
function readTaskName(r: SectionReader): string {
  if (r.text('name') === '') return asInternal(() => r.required('name', (t) => parseName(t)));
  return r.required('name', (t) => parseName(t));
}

export function buildProject(section: RawSection): ProjectConfig {
  const r = new SectionReader(section);
  if (r.text('scan_type') === 'region') {
    // A region project has DAMON's attributes instead of loop/interval/sleep (which etmem does not read there).
    r.rejectUnknownKeys(REGION_PROJECT_KEYS, 'a region project (scan_type=region)');
    const name = r.required('name', (t) => parseName(t));
    return projectConfig({ name, scan_type: 'region', loop: 1, interval: 1, sleep: 1, region: readRegionScan(r), source: sourceOf(section) });
  }
  r.rejectUnknownKeys(PROJECT_KEYS, 'a project');
  const name = r.required('name', (t) => parseName(t));
  return projectConfig({ name, ...readProjectSettings(r), source: sourceOf(section) });
}

export const ENGINE_KINDS: readonly EngineKind[] = ['slide', 'cslide', 'thirdparty', 'damon'];
/** etmem's damon engine keys (etmemd_damon.c damon_eng_config_items), all required. */
export const DAMON_ENGINE_OWN_KEYS = ['min_size', 'max_size', 'min_acc', 'max_acc', 'min_age', 'max_age', 'action'] as const;
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

/**
 * A damon engine's bounds and action. etmem parses them with strtoul and
 * no check; virt-tier refuses what DAMON would never match: a minimum
 * above its maximum, or a value beyond what the sysfs file takes.
 */
function readDamonEngine(r: SectionReader, project: string, source: SourceRef): DamonEngineConfig {
  const bounded = (minKey: string, maxKey: string, max: number, unit: string): [number, number] => {
    const lo = r.required(minKey, int(0, max, `0..${max} (${unit}), <= ${maxKey}`));
    const hi = r.required(maxKey, int(0, max, `0..${max} (${unit}), >= ${minKey}`));
    if (lo > hi) throw r.invalid(minKey, `above ${maxKey} (${hi}): no region could match`, `0..${hi} (${unit}, <= ${maxKey})`);
    return [lo, hi];
  };
  const [minSize, maxSize] = bounded('min_size', 'max_size', Number.MAX_SAFE_INTEGER, 'bytes');
  const [minAcc, maxAcc] = bounded('min_acc', 'max_acc', UINT32_MAX, 'accesses per aggregation interval');
  const [minAge, maxAge] = bounded('min_age', 'max_age', UINT32_MAX, 'aggregation intervals');
  const action = r.required('action', oneOf(DAMON_ACTIONS));
  return { project, name: 'damon', min_size: minSize, max_size: maxSize, min_acc: minAcc, max_acc: maxAcc, min_age: minAge, max_age: maxAge, action, source };
}

/** A thirdparty engine's `eng_name`: tasks name engines by it, so it may not be a built-in engine's name. */
function parseEngName(text: string): string {
  const name = parseName(text);
  if (name === 'slide' || name === 'cslide' || name === 'damon') {
    throw new FieldProblem('is the name of a built-in engine', '1..64 characters, not slide, cslide or damon');
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

/**
 * Result codes follow etmem: a missing `name` or `project`, or a name too
 * long, is OPT_INVAL; an engine name etmem does not know and every engine
 * key after them is OPT_INTER_ERR (asInternal). Unknown keys, which etmem
 * ignores and virt-tier refuses, stay OPT_INVAL.
 */
export function buildEngine(section: RawSection, host: HostFacts): EngineConfig {
  const r = new SectionReader(section);
  if (!r.has('name')) throw r.missing('name', ENGINE_KINDS.join('|'));
  const kind = asInternal(() => r.required('name', oneOf(ENGINE_KINDS)));
  const source = sourceOf(section);
  const project = r.required('project', parseRefName);
  if (kind === 'slide') {
    r.rejectUnknownKeys(ENGINE_COMMON_KEYS, 'a slide engine');
    return { project, name: 'slide', source };
  }
  if (kind === 'cslide') {
    r.rejectUnknownKeys(CSLIDE_ENGINE_KEYS, 'a cslide engine');
    const fields = cslideEngineFields(host);
    return asInternal(() =>
      cslideEngineConfig({
        project,
        name: 'cslide',
        node_pair: r.required('node_pair', fields.node_pair),
        hot_threshold: r.required('hot_threshold', fields.hot_threshold),
        node_mig_quota: r.required('node_mig_quota', fields.node_mig_quota),
        node_hot_reserve: r.required('node_hot_reserve', fields.node_hot_reserve),
        ...cslideEngineExtras(r, fields),
        source,
      }),
    );
  }
  if (kind === 'damon') {
    r.rejectUnknownKeys([...ENGINE_COMMON_KEYS, ...DAMON_ENGINE_OWN_KEYS], 'a damon engine');
    return asInternal(() => readDamonEngine(r, project, source));
  }
  // thirdparty: every key but its own goes to the plugin, which validates it when the engine is added.
  const own: readonly string[] = [...ENGINE_COMMON_KEYS, ...THIRDPARTY_ENGINE_KEYS];
  const params = asInternal(() => pluginParams(section, [...section.entries.keys()].filter((key) => !own.includes(key))));
  // eng_name is the engine's identity: too long is etmem's name check (OPT_INVAL); libname and ops_name fail in
  // etmem's plugin loading (OPT_INTER_ERR).
  const engName = r.text('eng_name') !== undefined && [...r.text('eng_name')!].length > 64 ? r.required('eng_name', parseEngName) : asInternal(() => r.required('eng_name', parseEngName));
  return {
    project,
    name: 'thirdparty',
    eng_name: engName,
    libname: asInternal(() => r.required('libname', parseLibname)),
    ops_name: asInternal(() => r.required('ops_name', parseOpsName)),
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

/**
 * Result codes follow etmem: `project`, `engine` or `name` missing or too
 * long is OPT_INVAL; an empty `project`/`engine` is looked up and not found
 * (OPT_PRO_NOEXIST / OPT_ENG_NOEXIST, from the model); an empty `name`, and
 * every other task key, is OPT_INTER_ERR. Unknown keys stay OPT_INVAL.
 */
export function buildTask(section: RawSection, host: HostFacts): BuiltTask {
  const r = new SectionReader(section);
  const project = r.required('project', parseRefName);
  const engine = r.required('engine', parseRefName);
  const name = readTaskName(r);
  const kind = engineKindOf(engine);
  const paramKeys = taskParamKeys(kind);
  if (paramKeys) r.rejectUnknownKeys([...TASK_COMMON_KEYS, ...paramKeys], `a ${kind} task`);
  return asInternal(() => {
    const type = r.required('type', oneOf(TASK_TYPES));
    // slide takes pid 0 and looks it up each cycle, as etmem (its llt add slide tasks with value=0).
    const minPid = kind === 'slide' ? 0 : 1;
    const parseValue = type === 'pid' ? (t: string) => String(parsePid(t, minPid)) : type === 'name' ? parseProcessName : parseDomain;
    const value = r.required('value', parseValue);
    const ownKeys = [...section.entries.keys()].filter((k) => !(TASK_COMMON_KEYS as readonly string[]).includes(k));
    const { params, warnings } = readTaskParams(kind, r, host, ownKeys);
    return { task: { project, engine, name, type, value, params, source: sourceOf(section) }, warnings, reader: r };
  });
}

/** A project's identity for `obj del`: its `name` (empty is let through: it names nothing, OPT_PRO_NOEXIST). */
export function readProjectRef(section: RawSection): ObjectRefs['projects'][number] {
  const r = new SectionReader(section);
  return { name: r.required('name', parseRefName), source: sourceOf(section) };
}

/** An engine's identity for `obj del`: `project`, `name` and, for thirdparty, `eng_name`. */
export function readEngineRef(section: RawSection): ObjectRefs['engines'][number] {
  const r = new SectionReader(section);
  const project = r.required('project', parseRefName);
  const name = r.required('name', parseRefName);
  const ref: ObjectRefs['engines'][number] = { project, name, source: sourceOf(section) };
  if (name === 'thirdparty') ref.eng_name = r.required('eng_name', parseRefName);
  return ref;
}

/** A task's identity for `obj del`: `project`, `engine`, `name`. */
export function readTaskRef(section: RawSection): ObjectRefs['tasks'][number] {
  const r = new SectionReader(section);
  return { project: r.required('project', parseRefName), engine: r.required('engine', parseRefName), name: r.required('name', parseRefName), source: sourceOf(section) };
}
