/**
 * The tracker backends, in the order the chooser prefers them:
 * 1. etmem's idle_pages (openEuler kernels): walks the EPT too, exact per
 *    page, reads cheapest;
 * 2. DAMON vaddr: per process, sees hugetlb (fixed 2 MiB regions: exact
 *    for hugepages), the kdamond runs only during a cycle;
 * 3. page_idle: exact per 4 KiB page but a bitmap write and read per page
 *    and scan, and blind to hugetlb (slide only);
 * 4. DAMON paddr: the one left on kernels that build paddr only (this
 *    host's 6.18); blind to hugetlb, and when it must share another
 *    user's kdamond its regions mix our pages with others' (precise for
 *    THP/clustered memory only, docs/trackers.md).
 * The one place that names the concrete trackers; each entry lives in its
 * tracker's own file.
 */
import { damonVaddrTrackerEntry } from './damon.js';
import { damonPaddrTrackerEntry } from './damon-paddr.js';
import { idlePagesTrackerEntry } from './idle-pages.js';
import { pageIdleTrackerEntry } from './page-idle.js';
import type { TrackerEntry } from './tracker.js';

export const DEFAULT_TRACKERS: readonly TrackerEntry[] = [idlePagesTrackerEntry, damonVaddrTrackerEntry, pageIdleTrackerEntry, damonPaddrTrackerEntry];

/** The names `--tracker` accepts besides `auto` (the same order; a unit test keeps them in step with DEFAULT_TRACKERS). */
export const TRACKER_NAMES = ['idle-pages', 'damon-vaddr', 'page-idle', 'damon-paddr'] as const;
