/**
 * Picks a tracker backend by probing the kernel, never by guessing: the
 * first entry of the list (src/scan/trackers.ts holds the default order)
 * that serves the task's engine and whose probe says this kernel can run
 * it. An entry declares the engines it serves (page_idle never reports
 * hugetlb pages idle, so it does not serve cslide). An operator may force
 * one backend (`virt-tierd --tracker NAME`); a forced backend the kernel
 * lacks ends the task with the probe's reason.
 */
import { VirtTierError } from '../errors.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { liveIO, type KernelFileIO } from '../platform/io.js';
import { DEFAULT_TRACKERS, TRACKER_NAMES } from './trackers.js';
import type { Tracker, TrackerEngine, TrackerEntry, TrackerProbe } from './tracker.js';

export { TRACKER_NAMES };
export type TrackerName = (typeof TRACKER_NAMES)[number];
export type TrackerChoice = TrackerName | 'auto';

/** Where the chooser probes and what it chooses from; every field defaults to the live host. */
export interface TrackerSource {
  trackers?: readonly TrackerEntry[];
  io?: KernelFileIO;
  kernel?: KernelOps;
}

/** Every backend of `trackers` with whether this kernel can run it, and why not (probes only read). */
export async function probeTrackers(source: TrackerSource = {}): Promise<TrackerProbe[]> {
  const { trackers = DEFAULT_TRACKERS, io = liveIO, kernel = liveKernel } = source;
  const probes: TrackerProbe[] = [];
  for (const entry of trackers) probes.push(await entry.probe(io, kernel));
  return probes;
}

/** The entry a task of `engine` gets, with every probe; or OPT_UNSUPPORTED saying what each backend lacks. */
export async function chooseTracker(choice: TrackerChoice, engine: TrackerEngine, source: TrackerSource = {}): Promise<{ entry: TrackerEntry; probes: TrackerProbe[] }> {
  const trackers = source.trackers ?? DEFAULT_TRACKERS;
  const probes = await probeTrackers({ ...source, trackers });
  const serves = (p: TrackerProbe): boolean => trackers.find((t) => t.name === p.name)?.engines.includes(engine) ?? false;
  const usable = probes.filter(serves);
  const candidates = choice === 'auto' ? usable : usable.filter((p) => p.name === choice);
  const pick = candidates.find((p) => p.available);
  if (pick) return { entry: trackers.find((t) => t.name === pick.name)!, probes };
  const reasons = (choice === 'auto' ? usable : candidates).map((p) => `${p.name}: ${p.reason || 'unavailable'}`).join('; ');
  throw new VirtTierError('OPT_UNSUPPORTED', `no access tracker for ${engine} on this kernel (${reasons || `${choice} does not apply to ${engine}`}); run \`virt-tier host-validate\``, {
    field: 'tracker',
    value: choice,
    allowed: (choice === 'auto' ? usable : probes).filter((p) => p.available).map((p) => p.name).join('|') || '(none available here)',
  });
}

/** A tracker for one task of `engine`, or OPT_UNSUPPORTED saying what each backend lacks. */
export async function createTracker(choice: TrackerChoice, engine: TrackerEngine, source: TrackerSource = {}): Promise<Tracker> {
  const { entry } = await chooseTracker(choice, engine, source);
  return entry.create(source.io ?? liveIO, source.kernel ?? liveKernel);
}
