/**
 * From a guest's page stats to the pre-copy model's input: what is measured
 * (zero pages in present memory, dirtying, zero share of swapped pages) and
 * what flags override. Shared by `migrate-hints --estimate` and
 * `migrate-plan`.
 */
import { invalidField } from '../errors.js';
import type { PlatformIO } from '../platform/io.js';
import { checkSampleSize, presentPageAddresses, procMemReader, sampleDirtyPages, sampleZeroPages, zramZeroShare, type DirtySample, type MemReader, type ZeroSample, type ZramZeroShare } from './measure.js';
import { PageBitmap } from './bitmap.js';
import { PAGE_STATE, type RamBlockPageStats } from './page-stats.js';
import type { DirtyModel, HugeRegion, PrecopyInput, WalkProfile } from './precopy.js';
import type { SwapInCost } from './swap-cost.js';

const PAGE = 4096;
const MIB = 1024 * 1024;
/**
 * Default zero-page sample: every present page of guests up to 1 GiB
 * (exact, and what the VTBM zero record needs; about 0.3 s per 256 MiB
 * here), else 32 Ki pages (standard error <= 0.28% of the present pages).
 */
export const DEFAULT_ZERO_SCAN_ALL_PAGES = 262144;
export const DEFAULT_ZERO_SAMPLE_PAGES = 32768;
/** Default dirty sample: 8 Ki pages (32 MiB read per probe). */
export const DEFAULT_DIRTY_SAMPLE_PAGES = 8192;

export interface MeasuredGuest {
  /** the present pages' addresses the samples index into */
  presentAddresses: Float64Array;
  ramSizeBytes: number;
  presentPages: number;
  untouchedPages: number;
  swappedPages: number;
  /** resident but unmapped (shared memory's swap cache): read without a swap-in, counted as data */
  swapCachePages: number;
  zero: ZeroSample;
  dirty?: DirtySample;
  zram?: ZramZeroShare;
  /** measured on memory of our own when the guest has swapped pages */
  swapIn?: SwapInCost;
  /** the page states and the zero sample in QEMU's walk order */
  walk: WalkChunks;
}

/**
 * A guest's pages in QEMU's pass-1 walk order (RAMBlocks largest first,
 * softmmu/physmem.c ram_block_add; equal sizes in the order given), in
 * chunks of `chunkPages`: per chunk the present pages, the present ones
 * estimated zero (the zero sample's finds there scaled by population /
 * sampled: exact when every present page was read), the never-touched,
 * the swap-cache and the swapped pages.
 */
export interface WalkChunks {
  chunkPages: number;
  present: number[];
  presentZero: number[];
  untouched: number[];
  swapCache: number[];
  swapped: number[];
  /** RAMBlocks on pages larger than 4 KiB (hugetlb): walk positions and host page, pages */
  hugetlb: HugeRegion[];
}

/** At most this many walk chunks (a 1 TiB guest: 64 MiB chunks), at least 1 MiB each. */
const MAX_WALK_CHUNKS = 4096;
const MIN_WALK_CHUNK_PAGES = 256;

/** The walk chunks of `blocks` (page states, in stats order) with the zero sample's finds. */
export function walkChunksOf(blocks: ReadonlyArray<{ start: number; states: Uint8Array; pageSizeBytes?: number }>, presentAddresses: Float64Array, zero: ZeroSample): WalkChunks {
  const totalPages = blocks.reduce((n, b) => n + b.states.length, 0);
  let chunkPages = MIN_WALK_CHUNK_PAGES;
  while (chunkPages * MAX_WALK_CHUNKS < totalPages) chunkPages *= 2;
  const chunks = Math.ceil(totalPages / chunkPages);
  const w: WalkChunks = { chunkPages, present: [], presentZero: [], untouched: [], swapCache: [], swapped: [], hugetlb: [] };
  for (const k of ['present', 'presentZero', 'untouched', 'swapCache', 'swapped'] as const) w[k] = new Array<number>(chunks).fill(0);
  const order = blocks.map((b, i) => i).sort((a, b) => blocks[b]!.states.length - blocks[a]!.states.length || a - b);
  const walkOffset = new Array<number>(blocks.length);
  let off = 0;
  for (const i of order) {
    walkOffset[i] = off;
    const st = blocks[i]!.states;
    const hostPageBytes = blocks[i]!.pageSizeBytes ?? PAGE;
    if (hostPageBytes > PAGE) w.hugetlb.push({ startPage: off, pages: st.length, hostPagePages: hostPageBytes / PAGE });
    for (let p = 0; p < st.length; p++) {
      const c = Math.floor((off + p) / chunkPages);
      switch (st[p]) {
        case PAGE_STATE.present: w.present[c]!++; break;
        case PAGE_STATE.swapped: w.swapped[c]!++; break;
        case PAGE_STATE.swapCache: w.swapCache[c]!++; break;
        default: w.untouched[c]!++;
      }
    }
    off += st.length;
  }
  // zero finds, scaled to the chunk's present pages by the sampling fraction
  const scale = zero.sampledPages > 0 ? zero.populationPages / zero.sampledPages : 0;
  const found = new Array<number>(chunks).fill(0);
  let b = 0;
  for (const k of zero.zeroIndices) {
    const address = presentAddresses[k]!;
    while (b < blocks.length && !(address >= blocks[b]!.start && address < blocks[b]!.start + blocks[b]!.states.length * PAGE)) b++;
    if (b >= blocks.length) break; // addresses are in block order
    found[Math.floor((walkOffset[b]! + (address - blocks[b]!.start) / PAGE) / chunkPages)]!++;
  }
  for (let c = 0; c < chunks; c++) w.presentZero[c] = Math.min(w.present[c]!, Math.round(found[c]! * scale));
  return w;
}

/** The model's walk profile: present pages split by the zero sample, or by `zeroFraction` when a flag gives one. */
export function walkProfileOf(w: WalkChunks, zeroFraction?: number): WalkProfile {
  const presentZero = w.present.map((p, c) => (zeroFraction !== undefined ? Math.round(zeroFraction * p) : w.presentZero[c]!));
  return {
    chunkPages: w.chunkPages,
    dataPages: w.present.map((p, c) => p - presentZero[c]! + w.swapCache[c]!),
    zeroPages: w.untouched.map((u, c) => u + presentZero[c]!),
    swappedPages: [...w.swapped],
    ...(w.hugetlb.length > 0 ? { hugetlb: w.hugetlb.map((r) => ({ ...r })) } : {}),
  };
}

export interface MeasureOptions {
  io: PlatformIO;
  /** pages to sample for zeros; default every present page up to 1 GiB of them, else 32768 */
  zeroSamplePages?: number;
  /** pages to sample for dirtying; default min(present, 8192); 0 = do not measure dirtying */
  dirtySamplePages?: number;
  dirtyProbesMs?: number[];
  /** opens guest memory; default /proc/PID/mem */
  openMem?: (pid: number) => MemReader;
  random?: () => number;
  /** measures a swap-in's cost when the guest has swapped pages; absent: not measured */
  swapInCost?: () => Promise<SwapInCost | undefined>;
}

/** Measures the model's inputs on `pid` (read-only). */
export async function measureGuest(pid: number, stats: readonly RamBlockPageStats[], opts: MeasureOptions): Promise<MeasuredGuest> {
  let untouched = 0;
  let swapped = 0;
  let swapCache = 0;
  let presentPages = 0;
  let ram = 0;
  for (const s of stats) {
    untouched += s.counts.untouched;
    swapped += s.counts.swapped;
    swapCache += s.counts.swapCache;
    presentPages += s.counts.present;
    ram += s.states.length * PAGE;
  }
  const zeroSamplePages = opts.zeroSamplePages ?? (presentPages <= DEFAULT_ZERO_SCAN_ALL_PAGES ? presentPages : DEFAULT_ZERO_SAMPLE_PAGES);
  const dirtySamplePages = opts.dirtySamplePages ?? Math.min(presentPages, DEFAULT_DIRTY_SAMPLE_PAGES);
  if (presentPages > 0) {
    if (opts.zeroSamplePages !== undefined && zeroSamplePages !== 0) checkSampleSize('--zero-sample', zeroSamplePages, presentPages);
    if (opts.dirtySamplePages !== undefined && dirtySamplePages !== 0) checkSampleSize('--dirty-sample', dirtySamplePages, presentPages);
  }
  // The address list (8 bytes per present page, fresh memory) only when a sample reads pages.
  const sampling = presentPages > 0 && (zeroSamplePages > 0 || dirtySamplePages > 0);
  const present = sampling ? presentPageAddresses(stats.map((s) => ({ start: s.target.start, states: s.states }))) : new Float64Array(0);
  const reader = (opts.openMem ?? procMemReader)(pid);
  try {
    const zero = sampling && zeroSamplePages > 0 ? sampleZeroPages(reader, present, zeroSamplePages, opts.random) : noZeroSample(presentPages);
    const dirty = sampling && dirtySamplePages > 0 ? await sampleDirtyPages(reader, present, dirtySamplePages, { probesMs: opts.dirtyProbesMs, random: opts.random }) : undefined;
    const zram = swapped > 0 ? await zramZeroShare(opts.io) : undefined;
    const swapIn = swapped > 0 && opts.swapInCost ? await opts.swapInCost() : undefined;
    const walk = walkChunksOf(stats.map((s) => ({ start: s.target.start, states: s.states, pageSizeBytes: s.target.pageSizeBytes })), present, zero);
    return { presentAddresses: present, ramSizeBytes: ram, presentPages, untouchedPages: untouched, swappedPages: swapped, swapCachePages: swapCache, zero, dirty, zram, swapIn, walk };
  } finally {
    reader.close();
  }
}

/** The zero sample of none of `populationPages` present pages (what sampleZeroPages returns for 0). */
function noZeroSample(populationPages: number): ZeroSample {
  return { populationPages, sampledPages: 0, zeroSampled: 0, zeroPages: 0, standardErrorPages: 0, elapsedMs: 0, zeroIndices: new Uint32Array(0) };
}

/** What flags override: each replaces one measured input. */
export interface EstimateOverrides {
  bandwidthMBps: number;
  maxDowntimeMs?: number;
  maxIterations?: number;
  /** replaces the measured dirtying by a constant rate (MiB/s)... */
  dirtyRateMBps?: number;
  /** ... up to this working set (MiB) */
  workingSetMiB?: number;
  /** replaces the sampled zero share of present pages (0..1) */
  zeroFraction?: number;
  /** cost of one swap-in, µs */
  swapInUs?: number;
  stopCopyMBps?: number;
}

/** The dirty model: the flags' rate/working set, else the measured curve, else nothing dirtied. */
export function dirtyModelOf(m: MeasuredGuest, o: EstimateOverrides): DirtyModel {
  if (o.dirtyRateMBps !== undefined || o.workingSetMiB !== undefined) {
    return {
      ratePagesPerSec: o.dirtyRateMBps !== undefined ? (o.dirtyRateMBps * MIB) / PAGE : Infinity,
      workingSetPages: o.workingSetMiB !== undefined ? Math.round((o.workingSetMiB * MIB) / PAGE) : undefined,
    };
  }
  if (m.dirty) return { curve: m.dirty.points.map((p) => [p.ms, p.pages] as [number, number]) };
  return { ratePagesPerSec: 0 };
}

/** The model's input from measurements and overrides. */
export function precopyInputOf(m: MeasuredGuest, o: EstimateOverrides): PrecopyInput {
  if (o.zeroFraction !== undefined && !(o.zeroFraction >= 0 && o.zeroFraction <= 1)) throw invalidField('--zero-fraction', o.zeroFraction, '0..1');
  const presentZero = o.zeroFraction !== undefined ? Math.round(o.zeroFraction * m.presentPages) : m.zero.zeroPages;
  return {
    ramSizeBytes: m.ramSizeBytes,
    pageSizeBytes: PAGE,
    dataPages: m.presentPages - presentZero + m.swapCachePages,
    zeroPages: presentZero + m.untouchedPages,
    swappedPages: m.swappedPages,
    swappedZeroPages: Math.round(m.swappedPages * (m.zram?.fraction ?? 0)),
    dirty: dirtyModelOf(m, o),
    bandwidthMBps: o.bandwidthMBps,
    maxDowntimeMs: o.maxDowntimeMs,
    maxIterations: o.maxIterations,
    swapInUs: o.swapInUs ?? m.swapIn?.perPageUs,
    stopCopyMBps: o.stopCopyMBps,
    walk: walkProfileOf(m.walk, o.zeroFraction),
  };
}

/** The measurements as JSON for reports (no typed arrays). */
export function measuredJson(m: MeasuredGuest): Record<string, unknown> {
  return {
    presentPages: m.presentPages,
    untouchedPages: m.untouchedPages,
    swappedPages: m.swappedPages,
    swapCachePages: m.swapCachePages,
    zeroInPresent: { ...m.zero, zeroIndices: undefined },
    ...(m.dirty ? { dirty: m.dirty } : {}),
    ...(m.zram ? { zramZeroShare: m.zram } : {}),
    ...(m.swapIn ? { swapInCost: m.swapIn } : {}),
  };
}

export interface BlockZeroPages {
  /** present pages found all zero (of the sampled ones) */
  presentZeroPages: number;
  /** every page that needs no payload: never touched, or present and found zero */
  bitmap: PageBitmap;
  /** false when only a sample of the present pages was read: the bitmap lists the zero pages found */
  complete: boolean;
}

/** Per RAMBlock (in `stats` order): the zero pages the zero sample found, plus the untouched ones. */
export function zeroPagesByBlock(m: MeasuredGuest, stats: readonly RamBlockPageStats[]): BlockZeroPages[] {
  const out = stats.map((s) => {
    const bitmap = new PageBitmap(s.states.length);
    let runStart = -1;
    for (let i = 0; i <= s.states.length; i++) {
      const untouched = i < s.states.length && s.states[i] === PAGE_STATE.untouched;
      if (untouched && runStart < 0) runStart = i;
      else if (!untouched && runStart >= 0) {
        bitmap.setRange(runStart, i - runStart);
        runStart = -1;
      }
    }
    return { presentZeroPages: 0, bitmap, complete: m.zero.sampledPages >= m.presentPages };
  });
  let b = 0;
  for (const k of m.zero.zeroIndices) {
    const address = m.presentAddresses[k]!;
    while (b < stats.length && !(address >= stats[b]!.target.start && address < stats[b]!.target.end)) b++;
    if (b >= stats.length) break; // addresses are in block order: past the last block
    out[b]!.bitmap.set((address - stats[b]!.target.start) / PAGE);
    out[b]!.presentZeroPages++;
  }
  return out;
}
