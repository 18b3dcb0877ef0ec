/**
 * Picks a tracker backend by probing the kernel, never by guessing:
 * etmem's idle_pages first (openEuler kernels: it walks the EPT too and
 * reads cheapest), then DAMON vaddr, then page_idle. cslide tracks hugetlb
 * (`vm_flags=ht`) memory, which page_idle never reports idle, so page_idle
 * is not offered to cslide. An operator may force one backend
 * (`virt-tierd --tracker NAME`); a forced backend the kernel lacks ends the
 * task with the probe's reason.
 */
import { VirtTierError } from '../errors.js';
import { probeDamon } from '../platform/damon-probe.js';
import { liveIO } from '../platform/io.js';
import { DamonVaddrTracker } from './damon.js';
import { IdlePagesTracker, nativeIdlePagesIo, probeIdlePages } from './idle-pages.js';
import { filePageIdleIo, PageIdleTracker, probePageIdle } from './page-idle.js';
import type { Tracker, TrackerProbe } from './tracker.js';

export const TRACKER_NAMES = ['idle-pages', 'damon-vaddr', 'page-idle'] as const;
export type TrackerName = (typeof TRACKER_NAMES)[number];
export type TrackerChoice = TrackerName | 'auto';

/**
 * DAMON vaddr, probed without writing to sysfs: a probe must never wait
 * for, or reshape, kdamonds that other users of DAMON run on this host.
 */
async function probeDamonVaddrReadOnly(): Promise<TrackerProbe> {
  const facts = await probeDamon(liveIO);
  if (!facts.sysfs) return { name: 'damon-vaddr', available: false, reason: '/sys/kernel/mm/damon/admin is missing: the kernel needs CONFIG_DAMON_SYSFS (Linux 5.18+)' };
  if (!facts.operations.includes('vaddr')) {
    return { name: 'damon-vaddr', available: false, reason: `DAMON has no vaddr operations (this kernel offers: ${facts.operations.join(' ') || 'none'}); it needs CONFIG_DAMON_VADDR` };
  }
  return { name: 'damon-vaddr', available: true, reason: '' };
}

/** Every backend with whether this kernel can run it, and why not. */
export async function probeTrackers(): Promise<TrackerProbe[]> {
  const idle = await probeIdlePages();
  const pageIdle = await probePageIdle();
  return [
    { name: 'idle-pages', available: idle.available, reason: idle.reason },
    await probeDamonVaddrReadOnly(),
    { name: 'page-idle', available: pageIdle.available, reason: pageIdle.reason },
  ];
}

async function construct(name: TrackerName): Promise<Tracker> {
  switch (name) {
    case 'idle-pages':
      return new IdlePagesTracker(await nativeIdlePagesIo());
    case 'damon-vaddr':
      return new DamonVaddrTracker();
    case 'page-idle':
      return new PageIdleTracker(filePageIdleIo());
  }
}

/** A tracker for one task of `engine`, or OPT_UNSUPPORTED saying what each backend lacks. */
export async function createTracker(choice: TrackerChoice, engine: 'slide' | 'cslide'): Promise<Tracker> {
  const probes = await probeTrackers();
  const usable = probes.filter((p) => !(engine === 'cslide' && p.name === 'page-idle'));
  const candidates = choice === 'auto' ? usable : usable.filter((p) => p.name === choice);
  const pick = candidates.find((p) => p.available);
  if (pick) return construct(pick.name as TrackerName);
  const reasons = (choice === 'auto' ? usable : candidates).map((p) => `${p.name}: ${p.reason || 'unavailable'}`).join('; ');
  throw new VirtTierError('OPT_UNSUPPORTED', `no access tracker for ${engine} on this kernel (${reasons || `${choice} does not apply to ${engine}`}); run \`virt-tier host-validate\``, {
    field: 'tracker',
    value: choice,
    allowed: (choice === 'auto' ? usable : probes).filter((p) => p.available).map((p) => p.name).join('|') || '(none available here)',
  });
}
