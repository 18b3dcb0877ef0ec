/**
 * slide's `max_threads` bounds how many of a pid's ranges (VMAs) one scan
 * reads at once (etmem's per-task thread pool, here the reads in flight on
 * libuv's threads), and the result does not depend on it:
 * - the page_idle and idle_pages trackers over injected kernel I/O that
 *   counts the reads in flight (each read waits a few ticks, as a pread of
 *   a large pagemap range does);
 * - the slide engine hands the task's max_threads to its tracker;
 * - a real process: the page_idle tracker over its real /proc smaps and
 *   pagemap and the real move_pages gives the same map serially and with
 *   max_threads 4. This host has no page_idle, so the idle bitmap is a
 *   fixture file (named so below); nothing clears its bits, so only what
 *   the real pagemap says (present pages, PFNs, nodes) varies.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProjectConfig, SlideEngineConfig, SlideTaskParams, TaskConfig } from '../../src/config/types.js';
import { projectConfig } from '../../src/config/units.js';
import { nullLogger } from '../../src/log.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import type { EngineTask } from '../../src/runner/engine.js';
import { SlideEngine } from '../../src/runner/slide.js';
import type { AccessMap, AccessMapVma } from '../../src/scan/access-map.js';
import { IdlePagesTracker, type IdlePagesIo } from '../../src/scan/idle-pages.js';
import { filePageIdleIo, PageIdleTracker, type PageIdleIo } from '../../src/scan/page-idle.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from '../../src/scan/tracker.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const PAGE = 4096;
const noSleep = async (): Promise<void> => undefined;
const target = (maxParallelRanges?: number): ScanTarget => ({ pid: 4321, filter: { vmFlags: [], anonOnly: false }, ignHost: false, ...(maxParallelRanges !== undefined ? { maxParallelRanges } : {}) });
const cycle: ScanCycleOptions = { loop: 2, intervalMs: 1 };

/** Twelve 4-page VMAs, gaps between them, so nothing merges. */
const VMAS: AccessMapVma[] = Array.from({ length: 12 }, (_, i) => ({
  start: 0x10000000 + i * 0x100000,
  end: 0x10000000 + i * 0x100000 + 4 * PAGE,
  vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'ac'],
  pathname: '',
}));

/** Counts reads in flight; each read waits `ticks` before it answers. */
class InFlight {
  now = 0;
  peak = 0;
  reads = 0;
  async around<T>(work: () => T, ticks = 4): Promise<T> {
    this.reads++;
    this.peak = Math.max(this.peak, ++this.now);
    for (let i = 0; i < ticks; i++) await tick();
    this.now--;
    return work();
  }
}

/** page_idle over memory: every page present with pfn = page index + 1; pages of odd VMAs accessed (their bits cleared). */
function memoryPageIdleIo(flight: InFlight): PageIdleIo {
  const bitmap = new Map<number, bigint>();
  const pfnOf = (va: number): number => {
    const k = VMAS.findIndex((v) => va >= v.start && va < v.end);
    return k * 4 + (va - VMAS[k]!.start) / PAGE + 64;
  };
  return {
    readVmas: async () => VMAS.map((v) => ({ ...v })),
    readPagemap: (_pid, startVa, pageCount) =>
      flight.around(() => {
        const buf = Buffer.alloc(pageCount * 8);
        for (let i = 0; i < pageCount; i++) {
          const pfn = pfnOf(startVa + i * PAGE);
          buf.writeUInt32LE(pfn, i * 8);
          buf.writeUInt32LE(0x80000000, i * 8 + 4);
        }
        return buf;
      }),
    async readBitmap(firstWord, wordCount) {
      const buf = Buffer.alloc(wordCount * 8);
      for (let w = 0; w < wordCount; w++) {
        let word = bitmap.get(firstWord + w) ?? 0n;
        // The "kernel": pages of odd VMAs were accessed since they were marked.
        for (let b = 0; b < 64; b++) {
          const pfn = (firstWord + w) * 64 + b - 64;
          if (pfn >= 0 && Math.floor(pfn / 4) % 2 === 1) word &= ~(1n << BigInt(b));
        }
        buf.writeBigUInt64LE(word, w * 8);
      }
      return buf;
    },
    async writeBitmap(firstWord, words) {
      for (let w = 0; w < words.length / 8; w++) bitmap.set(firstWord + w, (bitmap.get(firstWord + w) ?? 0n) | words.readBigUInt64LE(w * 8));
    },
    pageNodes: async (_pid, addrs) => new Int32Array(addrs.length),
  };
}

/** etmem's idle_pages over memory: each VMA's first page accessed (type 0 count 1), the rest idle (type 5). */
function memoryIdlePagesIo(flight: InFlight): IdlePagesIo {
  return {
    readVmas: async () => VMAS.map((v) => ({ ...v })),
    readIdlePages: (_pid, start, end) =>
      flight.around(() => {
        const pages = (end - start) / PAGE;
        const out = Buffer.alloc(9 + pages);
        out[0] = 0xa0;
        out.writeBigUInt64BE(BigInt(start), 1);
        out[9] = 0x01;
        for (let i = 1; i < pages; i++) out[9 + i] = 0x51;
        return out;
      }),
    pageNodes: async (_pid, addrs) => new Int32Array(addrs.length),
  };
}

const comparable = (m: AccessMap): unknown => ({ ...m, timeMs: 0 });

describe('max_threads: a scan reads at most that many of a pid ranges at once', () => {
  test('page_idle: 1 reads one range at a time; 3 reads three at once; the map is the same', async () => {
    const maps: AccessMap[] = [];
    for (const [limit, peak] of [[undefined, 1], [1, 1], [3, 3], [64, VMAS.length]] as const) {
      const flight = new InFlight();
      maps.push(await new PageIdleTracker(memoryPageIdleIo(flight), noSleep).scanCycle(target(limit), cycle));
      assert.equal(flight.peak, peak, `max_threads ${limit}: reads in flight`);
      assert.equal(flight.reads, VMAS.length * (cycle.loop + 1), 'every range read once per snapshot');
    }
    for (const m of maps.slice(1)) assert.deepEqual(comparable(m), comparable(maps[0]!));
    // The counts are the fake kernel's: odd VMAs accessed in both scans, even ones never.
    const counts = new Set(maps[0]!.ranges.toArray().map((r) => `${Math.floor((r.start - 0x10000000) / 0x100000) % 2}:${r.accessCount}`));
    assert.deepEqual([...counts].sort(), ['0:0', '1:2']);
  });

  test('idle_pages: the same bound on its reads, the same map', async () => {
    const maps: AccessMap[] = [];
    for (const [limit, peak] of [[1, 1], [4, 4]] as const) {
      const flight = new InFlight();
      maps.push(await new IdlePagesTracker(memoryIdlePagesIo(flight), noSleep).scanCycle(target(limit), cycle));
      assert.equal(flight.peak, peak);
    }
    assert.deepEqual(comparable(maps[1]!), comparable(maps[0]!));
    assert.ok(maps[0]!.ranges.toArray().some((r) => r.accessCount === 2));
  });

  test('a failing range read fails the scan once the reads in flight have settled', async () => {
    const flight = new InFlight();
    const io = memoryPageIdleIo(flight);
    let settledAfter = 0;
    const failing: PageIdleIo = {
      ...io,
      readPagemap: async (pid, startVa, count) => {
        if (startVa === VMAS[2]!.start) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
        const r = await io.readPagemap(pid, startVa, count);
        settledAfter++;
        return r;
      },
    };
    await assert.rejects(new PageIdleTracker(failing, noSleep).scanCycle(target(4), cycle), /ESRCH/);
    assert.equal(flight.now, 0, 'no read left running');
    assert.ok(settledAfter < VMAS.length, 'nothing new started after the failure');
  });

  test('the slide engine hands its task max_threads to the tracker', async () => {
    const seen: Array<number | undefined> = [];
    const tracker: Tracker = {
      name: 'recording',
      async scanCycle(t, opts) {
        seen.push(t.maxParallelRanges);
        return { pid: t.pid, loop: opts.loop, tracker: 'recording', timeMs: 0, vmas: [], ranges: new AccessRanges(0) };
      },
      async close() {},
    };
    for (const maxThreads of [undefined, 5]) {
      const controller = new AbortController();
      const project: ProjectConfig = projectConfig({ name: 'p', loop: 1, interval: 1, sleep: 1 });
      const config: TaskConfig = { project: 'p', engine: 'slide', name: 's', type: 'pid', value: '1', params: { T: 1, ...(maxThreads ? { max_threads: maxThreads } : {}) } as SlideTaskParams };
      const task: EngineTask = { config, project, resolvePids: async () => [777], signal: controller.signal, reportStats: () => controller.abort(), reportEnded: () => undefined, log: nullLogger() };
      const engine = new SlideEngine({ name: 'slide', project: 'p' } as SlideEngineConfig, {
        pidClaims: new PidClaims(),
        trackerFactory: () => tracker,
        mover: { execute: async (plan) => ({ pid: plan.pid, pagesMovedByNode: {}, bytesPromoted: 0, bytesDemoted: 0, bytesSwappedOut: 0, errorsByErrno: {}, durationMs: 0 }) },
        hostInfo: { hugePagePools: async () => ({}), memInfo: async () => ({ totalBytes: 1, availableBytes: 1, freeBytes: 1, swapCachedBytes: 0 }), processRssBytes: async () => 0, processSwapBytes: async () => 0 },
        sleep: async (_ms, signal) => {
          await tick();
          if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        },
      }, { project, log: nullLogger() });
      engine.startTask(task);
      for (let i = 0; i < 2000 && !controller.signal.aborted; i++) await tick();
      await engine.stopTask('s');
      await engine.close();
    }
    assert.deepEqual(seen, [1, 5]);
  });
});

const root = process.getuid?.() === 0;
describe('max_threads on a real process', { skip: root ? false : 'pagemap PFNs need root' }, () => {
  test('the page_idle tracker over real /proc gives the same map serially and 4 ranges at a time', async () => {
    // A quiet process with many VMAs, its pages touched once, then asleep.
    const child = spawn('python3', ['-c', [
      'import mmap, sys, time',
      'maps = []',
      'for i in range(24):',
      '    m = mmap.mmap(-1, 64 * 4096, prot=(mmap.PROT_READ | mmap.PROT_WRITE) if i % 2 == 0 else mmap.PROT_READ)',
      '    if i % 2 == 0: m.write(b"x" * (64 * 4096))',
      '    maps.append(m)',
      'print("ready", flush=True)',
      'time.sleep(600)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-maxthreads-'));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`python3 exited ${code}`)));
      });
      // FIXTURE: this host has no /sys/kernel/mm/page_idle/bitmap; a plain file stands in for it (nothing clears its bits).
      const bitmapPath = path.join(dir, 'fixture-page-idle-bitmap');
      writeFileSync(bitmapPath, '');
      const io = filePageIdleIo({ bitmapPath });
      let inFlight = 0;
      let peak = 0;
      const counted: PageIdleIo = {
        ...io,
        readPagemap: async (...args) => {
          peak = Math.max(peak, ++inFlight);
          try {
            return await io.readPagemap(...args);
          } finally {
            inFlight--;
          }
        },
      };
      const scan = (limit: number): Promise<AccessMap> => new PageIdleTracker(counted, noSleep).scanCycle({ pid: child.pid!, filter: { vmFlags: [], anonOnly: false }, ignHost: false, maxParallelRanges: limit }, { loop: 2, intervalMs: 1 });
      const serial = await scan(1);
      assert.equal(peak, 1);
      const parallel = await scan(4);
      assert.ok(peak > 1 && peak <= 4, `reads in flight with max_threads 4: ${peak}`);
      assert.ok(serial.vmas.length >= 24, `${serial.vmas.length} VMAs`);
      const touched = serial.ranges.toArray().reduce((n, r) => n + (r.present ? r.pageCount : 0), 0);
      assert.ok(touched >= 12 * 64, `${touched} present pages`);
      assert.deepEqual(comparable(parallel), comparable(serial));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
