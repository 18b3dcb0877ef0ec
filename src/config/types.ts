/**
 * The validated configuration model: what etmem's INI file and virt-tier's
 * YAML form both parse into (src/config/parse.ts). Field names keep etmem's
 * keys so the docs, errors and files read the same. Where a key has etmem's
 * unit (seconds, MB), the config also carries the value converted once, in
 * a readonly `...Ms` / `...Bytes` field (src/config/units.ts makes every
 * such config): the runtime reads those, never the etmem key. A key whose
 * written form is not a plain number (`swap_threshold=10g`) is kept only
 * converted, as `swap_threshold_bytes`.
 *
 * Per-field ranges are checked by the parser. Checks that need state the
 * file may not hold (the project a task refers to, `T <= loop * 3`, the
 * thirdparty plugin's private keys) are done by the object model when the
 * objects are added (src/model/registry.ts).
 */

export type EngineKind = 'slide' | 'cslide' | 'thirdparty';
export type TaskType = 'pid' | 'name' | 'domain';

/** Where an object came from, for error messages: `[task] #2 (line 14)`. */
export interface SourceRef {
  /** `project`, `engine` or `task` */
  section: 'project' | 'engine' | 'task';
  /** 0-based index among sections of that kind in the file */
  index: number;
  /** 1-based line of the section header (INI) or list item (YAML), when known */
  line?: number;
}

export interface ProjectConfig {
  name: string;
  /** scans per cycle, 1..120 */
  loop: number;
  /** seconds between the scans of one cycle, 1..1200 */
  interval: number;
  /** seconds between cycles, 1..1200 */
  sleep: number;
  /** `interval` in ms (derived, see units.ts) */
  readonly intervalMs: number;
  /** `sleep` in ms (derived, see units.ts) */
  readonly sleepMs: number;
  /** 0..100: slide swaps only while free memory % is below it */
  sysmem_threshold?: number;
  /** 1..100, both or neither, high > low */
  swapcache_high_wmark?: number;
  swapcache_low_wmark?: number;
  source?: SourceRef;
}

export interface NodePair {
  /** the hot (DRAM) node */
  dram: number;
  /** the cold (AEP/CXL) node */
  aep: number;
}

interface EngineBase {
  /** the project this engine belongs to */
  project: string;
  source?: SourceRef;
}

export interface SlideEngineConfig extends EngineBase {
  name: 'slide';
}

export interface CslideEngineConfig extends EngineBase {
  name: 'cslide';
  node_pair: NodePair[];
  /** access count >= hot_threshold is hot; 0..2147483647 */
  hot_threshold: number;
  /** MB per round, each direction; 0..2147483647 */
  node_mig_quota: number;
  /** MB of DRAM kept for hot memory; 0..2147483647 */
  node_hot_reserve: number;
  /** `node_mig_quota` in bytes (MB = 2^20, as etmem; derived, see units.ts) */
  readonly nodeMigQuotaBytes: number;
  /** `node_hot_reserve` in bytes (derived, see units.ts) */
  readonly nodeHotReserveBytes: number;
  /** virt-tier: a page moved within this many rounds moves back only past the threshold by `thrash_margin` (0: off) */
  thrash_rounds?: number;
  thrash_margin?: number;
  /** virt-tier: MB of free DRAM per node (MemFree) below which the node is under pressure (no promotions, demote) until it is above the high mark */
  dram_free_low_wmark?: number;
  dram_free_high_wmark?: number;
}

export interface ThirdpartyEngineConfig extends EngineBase {
  name: 'thirdparty';
  /** the name tasks use in `engine=` */
  eng_name: string;
  /** module path (JS) implementing the engine interface */
  libname: string;
  /** the exported engine object's name */
  ops_name: string;
  /** every other key, passed to the plugin to validate */
  params: Record<string, string>;
}

export type EngineConfig = SlideEngineConfig | CslideEngineConfig | ThirdpartyEngineConfig;

export interface SlideTaskParams {
  /** pages accessed fewer than T times in a cycle are cold; 0..loop*3 */
  T: number;
  /** 1..2*ncpu+1; out of range is clamped with a warning (etmem does) */
  max_threads?: number;
  /** swap only while the process RSS is above this many bytes (`NNg`) */
  swap_threshold_bytes?: number;
  /** (0,100]: swap coldest first until the DRAM share is down to this % */
  dram_percent?: number;
  swap_flag?: boolean;
}

/** Guest RAM kinds a cslide task can tier (its `ram` key; src/config/fields.ts parseRamKinds). */
export const RAM_KINDS = ['hugetlb', 'thp', 'anon', 'shared'] as const;
export type RamKind = (typeof RAM_KINDS)[number];

export interface CslideTaskParams {
  /** smaps VmFlags every scanned VMA must carry; only `ht` is supported (empty when `ram` alone selects) */
  vm_flags: string[];
  anon_only: boolean;
  ign_host: boolean;
  /** virt-tier: guest RAM kinds tiered besides vm_flags (hugetlb, thp, anon, shared) */
  ram?: RamKind[];
  /** virt-tier: DRAM share under contention, 1..10000 (default 100) */
  weight?: number;
  /** virt-tier: DRAM this guest keeps (`dram_min`, MB, in bytes) */
  dram_min_bytes?: number;
  /** virt-tier: DRAM this guest never exceeds (`dram_max`, MB, in bytes) */
  dram_max_bytes?: number;
}

export interface TaskConfig {
  project: string;
  /** `slide`, `cslide`, or a thirdparty engine's `eng_name` */
  engine: string;
  /** 1..64 chars, unique within the engine */
  name: string;
  type: TaskType;
  /** pid, process name (1..15 chars of [A-Za-z0-9.%/_-]) or libvirt domain name/UUID */
  value: string;
  /**
   * Engine-specific keys, already validated by the parser. Which interface
   * applies follows from `engine` alone (a thirdparty `eng_name` may not be
   * `slide` or `cslide`): `slide` -> SlideTaskParams, `cslide` ->
   * CslideTaskParams, anything else -> the raw strings, for the plugin.
   */
  params: SlideTaskParams | CslideTaskParams | Record<string, string>;
  source?: SourceRef;
}

/** One configuration file, objects in file order. */
export interface ConfigDocument {
  projects: ProjectConfig[];
  engines: EngineConfig[];
  tasks: TaskConfig[];
  /**
   * Accepted with a change the user should hear about (e.g. `max_threads`
   * clamped, as etmem does). The parser always sets it; optional so code
   * that builds documents by hand need not.
   */
  warnings?: string[];
}

/** Host facts the parser checks against (NUMA node ids for node_pair, CPUs for max_threads). */
export interface HostFacts {
  numaNodes: number[];
  cpuCount: number;
}
