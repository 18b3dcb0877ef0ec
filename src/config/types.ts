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

export type EngineKind = 'slide' | 'cslide' | 'thirdparty' | 'damon';
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

/**
 * A `scan_type=region` project's DAMON monitoring attributes (etmem's
 * region_scan, etmemd_project.c): microseconds and region counts, written
 * to the kdamond's monitoring_attrs as they are.
 */
export interface RegionScanConfig {
  /** µs between access samples, 1..2^32-1 */
  sample_interval: number;
  /** µs per aggregation (nr_accesses counts samples within one), >= sample_interval */
  aggr_interval: number;
  /** µs between updates of the monitored address ranges, >= aggr_interval */
  update_interval: number;
  /** 3.. ; below max_nr_regions */
  min_nr_regions: number;
  max_nr_regions: number;
}

export interface ProjectConfig {
  name: string;
  /**
   * `page` (absent: page): slide, cslide and thirdparty engines count page
   * accesses over `loop` scans. `region`: the project's engine is `damon`
   * and DAMON monitors the tasks (`region` holds its attributes); `loop`,
   * `interval` and `sleep` are not keys of a region project and are 1 there.
   */
  scan_type?: 'page' | 'region';
  region?: RegionScanConfig;
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

/** DAMOS actions etmem's damon engine offers (etmemd_damon.c damon_action_items), by their DAMON sysfs names. */
export const DAMON_ACTIONS = ['willneed', 'cold', 'pageout', 'hugepage', 'nohugepage', 'stat'] as const;
export type DamonAction = (typeof DAMON_ACTIONS)[number];

/**
 * etmem's damon engine (etmemd_damon.c): one DAMOS scheme over the
 * project's tasks, applied by the kernel to regions whose size, access
 * count per aggregation and age (in aggregations) are within the bounds.
 */
export interface DamonEngineConfig extends EngineBase {
  name: 'damon';
  /** bytes, 0..2^53-1, min_size <= max_size */
  min_size: number;
  max_size: number;
  /** nr_accesses per aggregation interval, 0..2^32-1, min_acc <= max_acc */
  min_acc: number;
  max_acc: number;
  /** aggregation intervals, 0..2^32-1, min_age <= max_age */
  min_age: number;
  max_age: number;
  action: DamonAction;
}

export type EngineConfig = SlideEngineConfig | CslideEngineConfig | ThirdpartyEngineConfig | DamonEngineConfig;

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

/**
 * What `obj del` reads from a file: only each object's identity, as etmem
 * does (etmemd_rpc.c do_obj_cmd reads the name keys alone), so a file
 * whose other keys no longer validate (a node_pair that no longer fits
 * the host, a key virt-tier refuses) still deletes what it names. A
 * ConfigDocument is also a valid ObjectRefs.
 */
export interface ObjectRefs {
  projects: Array<{ name: string; source?: SourceRef }>;
  /** `name` is the engine kind; thirdparty engines are named by `eng_name` */
  engines: Array<{ project: string; name: string; eng_name?: string; source?: SourceRef }>;
  tasks: Array<{ project: string; engine: string; name: string; source?: SourceRef }>;
}
