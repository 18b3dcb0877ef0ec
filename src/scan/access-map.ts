/**
 * AccessMap: the one shape every tracker backend produces and every engine
 * consumes. A backend answers: over `loop` observations spaced `interval`
 * seconds apart, how many times was each page (or range of pages of equal
 * temperature) accessed, where is it, is it present or swapped?
 */

import type { AccessRanges } from './access-ranges.js';

export type { AccessRange } from './access-ranges.js';

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
  /** sorted by start, non-overlapping; columns in typed arrays (./access-ranges.ts) */
  ranges: AccessRanges;
  /**
   * Present pages the tracker could not observe (damon-paddr sharing a
   * kdamond whose range does not hold them): reported accessed in every
   * scan, so no policy moves them on no evidence. Absent: all observed.
   */
  untrackedPages?: number;
}
