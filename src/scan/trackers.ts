/**
 * The tracker backends, in the order the chooser prefers them: etmem's
 * idle_pages first (openEuler kernels: it walks the EPT too and reads
 * cheapest), then DAMON vaddr, then page_idle. The one place that names
 * the concrete trackers; each entry lives in its tracker's own file.
 */
import { damonVaddrTrackerEntry } from './damon.js';
import { idlePagesTrackerEntry } from './idle-pages.js';
import { pageIdleTrackerEntry } from './page-idle.js';
import type { TrackerEntry } from './tracker.js';

export const DEFAULT_TRACKERS: readonly TrackerEntry[] = [idlePagesTrackerEntry, damonVaddrTrackerEntry, pageIdleTrackerEntry];

/** The names `--tracker` accepts besides `auto` (the same order; a unit test keeps them in step with DEFAULT_TRACKERS). */
export const TRACKER_NAMES = ['idle-pages', 'damon-vaddr', 'page-idle'] as const;
