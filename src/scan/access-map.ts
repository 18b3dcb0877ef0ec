/**
 * AccessMap: the one shape every tracker backend produces and every engine
 * consumes. A backend answers: over `loop` observations spaced `interval`
 * seconds apart, how many times was each page (or range of pages of equal
 * temperature) accessed, where is it, is it present or swapped?
 */

export interface AccessRange {
  /** first virtual address of the range (page aligned) */
  start: number;
  /** number of pages in the range (all of `pageSizeBytes`) */
  pageCount: number;
  /** 4096, 2097152 or 1073741824 */
  pageSizeBytes: number;
  /**
   * the pages' accesses over the cycle's `loop` scans, on etmem's scale: a
   * scan that saw them written adds 3, read adds 1 (etmemd_scan.c
   * record_parse_result), so 0..loop*3. Only etmem's idle_pages tracker
   * tells writes apart; page_idle and DAMON see an access bit alone and
   * count every accessed scan as a read (0..loop).
   */
  accessCount: number;
  /** NUMA node of the pages, -1 when unknown or mixed/not present */
  node: number;
  /** pages present in memory */
  present: boolean;
  /** pages swapped out (private anonymous memory only; see migration stats for shared) */
  swapped: boolean;
}

export interface AccessMapVma {
  start: number;
  end: number;
  /** smaps VmFlags, e.g. ['rd','wr','mr','mw','me','sh','ht'] */
  vmFlags: string[];
  /** backing path from smaps/maps, '' for anonymous */
  pathname: string;
  /** inode of the backing file from the smaps header, 0 for none (anon_only needs it); absent when not read */
  inode?: number;
}

export interface AccessMap {
  pid: number;
  /** number of scans the counts are over (the project's `loop`) */
  loop: number;
  /** which backend produced it: 'damon-vaddr' | 'damon-paddr' | 'page-idle' | 'idle-pages' | 'pagemap' | 'synthetic' */
  tracker: string;
  /** when the cycle ended, ms since epoch */
  timeMs: number;
  vmas: AccessMapVma[];
  /** sorted by start, non-overlapping */
  ranges: AccessRange[];
  /**
   * Present pages the tracker could not observe (damon-paddr sharing a
   * kdamond whose range does not hold them): reported accessed in every
   * scan, so no policy moves them on no evidence. Absent: all observed.
   */
  untrackedPages?: number;
}
