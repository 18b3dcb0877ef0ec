/**
 * A task's engine-specific keys. Which keys a task takes follows from its
 * `engine=` value alone: `slide` and `cslide` are the built-in engines and
 * a thirdparty engine may not take either name as its `eng_name`, so any
 * other value is a thirdparty engine, whose keys go raw to the plugin.
 * The parser therefore validates every task completely, whether or not
 * its engine is in the same file; what it cannot know is checked by the
 * model when the task is added: that the engine exists in the project,
 * `T <= loop * 3` when the project is not in the same file
 * (checkTaskAgainstProject), and the plugin's own keys.
 */
import { VirtTierError } from '../errors.js';
import { INT32_MAX, parseRamKinds, parseStrictInt, parseSwapThresholdBytes, parseVmFlags, parseYesNo } from './fields.js';
import { badKey, type RawSection } from './raw.js';
import { SectionReader } from './section-reader.js';
import type { CslideTaskParams, EngineKind, HostFacts, ProjectConfig, SlideTaskParams, TaskConfig } from './types.js';

export const SLIDE_TASK_KEYS = ['T', 'max_threads', 'swap_threshold', 'dram_percent', 'swap_flag'] as const;
export const CSLIDE_TASK_KEYS = ['vm_flags', 'anon_only', 'ign_host', 'ram', 'weight', 'dram_min', 'dram_max'] as const;

/** The engine kind a task's `engine=` value names. */
export function engineKindOf(engine: string): EngineKind {
  return engine === 'slide' || engine === 'cslide' || engine === 'damon' ? engine : 'thirdparty';
}

/** The engine-specific keys a task may carry, or undefined for thirdparty (any key: the plugin decides). */
export function taskParamKeys(kind: EngineKind): readonly string[] | undefined {
  if (kind === 'slide') return SLIDE_TASK_KEYS;
  if (kind === 'cslide') return CSLIDE_TASK_KEYS;
  // etmem's damon engine has no task keys (its ops table fills none).
  if (kind === 'damon') return [];
  return undefined;
}

export interface TaskParamsResult {
  params: SlideTaskParams | CslideTaskParams | Record<string, string>;
  /** values accepted with a change (max_threads clamped) */
  warnings: string[];
}

/** `line 7: task[0].dram_percent`: where a warning points. */
function where(reader: SectionReader, key: string): string {
  const line = reader.section.entries.get(key)?.line;
  return `${line !== undefined ? `line ${line}: ` : ''}${reader.section.label ?? `task[${reader.section.index}]`}.${key}`;
}

/** Reads the engine-specific keys of a task section; the caller has rejected keys the engine does not take. */
export function readTaskParams(kind: EngineKind, reader: SectionReader, host: HostFacts, paramKeys: readonly string[]): TaskParamsResult {
  const warnings: string[] = [];
  if (kind === 'slide') {
    const params: SlideTaskParams = { T: reader.required('T', (t) => parseStrictInt(t, 0, INT32_MAX)) };
    // etmem clamps max_threads into 1..2*ncpu+1 with a warning instead of refusing it; keep that, but the
    // value must still be an integer.
    const maxThreads = reader.optional('max_threads', (t) => parseStrictInt(t, -INT32_MAX - 1, INT32_MAX, 'an integer (clamped to 1..2*CPUs+1)'));
    if (maxThreads !== undefined) {
      const limit = 2 * host.cpuCount + 1;
      const clamped = Math.min(Math.max(maxThreads, 1), limit);
      if (clamped !== maxThreads) warnings.push(`${where(reader, 'max_threads')}: ${maxThreads} is outside 1..${limit} (2*CPUs+1 on this host); using ${clamped}`);
      params.max_threads = clamped;
    }
    // 0 (or a bare `g`) means "not set" in etmem, so it leaves the key out here too.
    const swapThresholdBytes = reader.optional('swap_threshold', parseSwapThresholdBytes);
    if (swapThresholdBytes !== undefined) params.swap_threshold_bytes = swapThresholdBytes;
    // etmem (etmemd_slide.c fill_task_dram_percent) warns about a dram_percent outside (0,100] and ignores it;
    // a value that is not an integer is still refused.
    const dramPercent = reader.optional('dram_percent', (t) => parseStrictInt(t, -INT32_MAX - 1, INT32_MAX, 'an integer; 1..100 (percent) takes effect'));
    if (dramPercent !== undefined) {
      if (dramPercent >= 1 && dramPercent <= 100) params.dram_percent = dramPercent;
      else warnings.push(`${where(reader, 'dram_percent')}: ${dramPercent} is outside 1..100 (percent); ignored, as etmem does`);
    }
    const swapFlag = reader.optional('swap_flag', parseYesNo);
    if (swapFlag !== undefined) params.swap_flag = swapFlag;
    return { params, warnings };
  }
  if (kind === 'cslide') {
    // virt-tier's `ram` selects guest RAM beyond etmem's hugetlb (`vm_flags=ht`); with it, vm_flags may be left out.
    const ram = reader.optional('ram', parseRamKinds);
    // etmem's code requires anon_only and ign_host (etmemd_cslide.c; its README says optional). virt-tier keeps
    // them optional (no): every etmem file names both and loads the same, and a shorter file means the defaults.
    const params: CslideTaskParams = {
      vm_flags: ram === undefined ? reader.required('vm_flags', parseVmFlags) : (reader.optional('vm_flags', parseVmFlags) ?? []),
      anon_only: reader.optional('anon_only', parseYesNo) ?? false,
      ign_host: reader.optional('ign_host', parseYesNo) ?? false,
    };
    if (ram !== undefined) params.ram = ram;
    // Per-guest DRAM shares (virt-tier): MB as node_hot_reserve, kept in bytes for the runtime.
    const MB = 1 << 20;
    const weight = reader.optional('weight', (t) => parseStrictInt(t, 1, 10000, '1..10000 (relative DRAM share, default 100)'));
    if (weight !== undefined) params.weight = weight;
    const dramMin = reader.optional('dram_min', (t) => parseStrictInt(t, 0, INT32_MAX, `0..${INT32_MAX} (MB)`));
    const dramMax = reader.optional('dram_max', (t) => parseStrictInt(t, 0, INT32_MAX, `0..${INT32_MAX} (MB)`));
    if (dramMin !== undefined && dramMax !== undefined && dramMin > dramMax) {
      const where = reader.section.label ?? `task[${reader.section.index}]`;
      throw new VirtTierError('OPT_INVAL', `${where}.dram_min: ${dramMin} MB is above dram_max ${dramMax} MB; allowed: 0..dram_max`, { field: `${where}.dram_min`, value: String(dramMin), allowed: `0..${dramMax} (dram_max)` });
    }
    if (dramMin !== undefined) params.dram_min_bytes = dramMin * MB;
    if (dramMax !== undefined) params.dram_max_bytes = dramMax * MB;
    return { params, warnings };
  }
  if (kind === 'damon') return { params: {}, warnings };
  return { params: pluginParams(reader.section, paramKeys), warnings };
}

/**
 * A thirdparty engine's or task's own keys, for the plugin. `__proto__`
 * is refused: assigning it to a plain object would silently drop it (or
 * worse, in code that copies params around).
 */
export function pluginParams(section: RawSection, keys: Iterable<string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const key of keys) {
    const entry = section.entries.get(key)!;
    if (key === '__proto__') throw badKey(section, key, 'reserved key name', 'any other key name', entry.line);
    params[key] = entry.value;
  }
  return params;
}

/**
 * Validates a task's engine-specific keys given as raw strings (what a
 * file holds), for callers outside the file parser. Unknown keys are
 * refused for slide and cslide; a thirdparty engine's keys are returned
 * as they are, for the plugin. `label` names the task in errors.
 */
export function validateTaskParams(
  kind: EngineKind,
  rawParams: Readonly<Record<string, string>>,
  host: HostFacts,
  label = 'task',
): TaskParamsResult {
  const section: RawSection = { kind: 'task', index: 0, label, entries: new Map() };
  for (const [key, value] of Object.entries(rawParams)) section.entries.set(key, { value: value.trim() });
  const reader = new SectionReader(section);
  const known = taskParamKeys(kind);
  if (known) reader.rejectUnknownKeys(known, `a ${kind} task`);
  return readTaskParams(kind, reader, host, [...section.entries.keys()]);
}

/**
 * The checks of a task that need its project: slide's `T` is a count of
 * scans in one cycle, so at most `loop * 3` as etmem allows. The parser
 * calls this when the project is in the same file; the model calls it for
 * a project that already exists.
 */
export function checkTaskAgainstProject(task: TaskConfig, project: ProjectConfig): void {
  if (engineKindOf(task.engine) !== 'slide') return;
  const T = (task.params as SlideTaskParams).T;
  const limit = project.loop * 3;
  if (T <= limit) return;
  const field = task.source ? `task[${task.source.index}].T` : `task "${task.name}".T`;
  const allowed = `0..${limit} (3 * loop of project "${project.name}")`;
  const at = task.source?.line !== undefined ? `line ${task.source.line}: ` : '';
  // etmem answers a bad task key with OPT_INTER_ERR (etmemd_project.c etmemd_project_add_task: the engine's fill_task failed).
  throw new VirtTierError('OPT_INTER_ERR', `${at}${field}: out of range ${T}; allowed: ${allowed}`, { field, value: String(T), allowed });
}
