/**
 * The one door to the addon. Every kernel call the daemon and the CLI make
 * (move_pages, process_madvise, pagemap, page_idle, idle_pages, mincore,
 * SEEK_DATA, SO_PEERCRED) goes through a `KernelOps`: `liveKernel` is the
 * addon, tests inject a fake or wrap the live one in a RecordingKernel.
 * No other module under src/ imports the addon.
 *
 * Each wrapper validates its arguments here (better-sqlite3's habit: the
 * TypeScript side checks, the C++ side only re-checks) and throws the same
 * TypeError the addon would (`code` ERR_INVALID_ARG); OS failures are
 * SysError with the errno name in `code` (src/native/errors.ts). The addon
 * itself is loaded on the first call, so importing this module is free.
 */
import type { IdlePagesRead, NativeBinding, PageStatesResult, PagemapPfns, PagemapScanCounts, PagemapScanResult, PeerCred } from './native.js';

/** Which pages a PAGEMAP_SCAN walk (or its pagemap fallback in pagemap.ts) reports, by PAGE_IS_* category bits. */
export interface ScanFilter {
  /** bits flipped before matching */
  categoryInverted?: number;
  /** all of these (after inversion) must be set */
  categoryMask?: number;
  /** at least one of these (after inversion) must be set, when non-zero */
  categoryAnyOfMask?: number;
  /** bits reported per range; neighbours equal in these bits merge */
  returnMask: number;
}
import { readFile } from 'node:fs/promises';
import { loadNative } from './loader.js';
import { isErrno } from './errors.js';
import { processGone } from '../errors.js';

export type { IdlePagesRead, PageStatesResult, PagemapPfns, PagemapScanCounts, PagemapScanResult, PeerCred } from './native.js';

/** How pageStates reads: `readMode` 'pagemap' skips PAGEMAP_SCAN; `nodeMap` gives nodes by PFN. */
export interface PageStatesOptions {
  readMode?: 'auto' | 'pagemap';
  nodeMap?: { blockBytes: number; nodeByBlock: Int16Array };
}

/** move_pages(2) flag: move pages mapped only by this process (include/uapi/linux/mempolicy.h). */
export const MPOL_MF_MOVE = 2;
/** process_madvise(2) advice values (include/uapi/asm-generic/mman-common.h). */
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
const PAGE_BYTES = 4096;

export interface KernelOps {
  /** move_pages(pid, addrs, NULL): the node of each page, or a negative errno per page (-ENOENT: not populated). */
  queryPageNodes(pid: number, addrs: Float64Array): Promise<Int32Array>;
  /** move_pages(pid, addrs, nodes, MPOL_MF_MOVE): per-page status (node reached, or a negative errno). */
  movePages(pid: number, addrs: Float64Array, nodes: Int32Array): Promise<Int32Array>;
  /** process_madvise(MADV_PAGEOUT) over [start0, len0, start1, len1, ...]: bytes advised. */
  pageout(pid: number, rangesBytes: Float64Array): Promise<number>;
  /** process_madvise(MADV_COLD) over [start0, len0, ...]: bytes advised. */
  adviseCold(pid: number, rangesBytes: Float64Array): Promise<number>;
  /** ioctl(PAGEMAP_SCAN) over [startAddr, endAddr); `maxPages` 0 = no limit. ENOTTY before Linux 6.7. */
  pagemapScan(pid: number, startAddr: number, endAddr: number, filter: ScanFilter, maxPages?: number): Promise<PagemapScanResult>;
  /** The same walk, page counts per category only. */
  pagemapScanCounts(pid: number, startAddr: number, endAddr: number, filter: ScanFilter): Promise<PagemapScanCounts>;
  /** pread of /proc/PID/pagemap: `pageCount` raw entries from the page-aligned `startAddr` (short at the end of the address space). */
  readPagemap(pid: number, startAddr: number, pageCount: number): Promise<BigUint64Array>;
  /** The same read decoded natively: PFN per page (0 when not present) and flags (bit 0 present, bit 1 swapped). */
  readPagemapPfns(pid: number, startAddr: number, pageCount: number): Promise<PagemapPfns>;
  /** pread of whole words of a page_idle bitmap (short past the last PFN). */
  readIdleBitmap(path: string, firstWord: number, wordCount: number): Promise<BigUint64Array>;
  /** pwrite of whole words to a page_idle bitmap: bytes written. */
  writeIdleBitmap(path: string, firstWord: number, words: BigUint64Array): Promise<number>;
  /** One read of etmem's /proc/PID/idle_pages from `startVa`, at most `maxBytes`. */
  readIdlePages(path: string, startVa: number, maxBytes: number, scanFlags: number): Promise<IdlePagesRead>;
  /** mmap + mincore of [offsetBytes, offsetBytes+lengthBytes) of a file: 1 per resident 4 KiB page. */
  mincoreFile(path: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
  /** lseek(SEEK_DATA/SEEK_HOLE) over [startBytes, endBytes): data extents as [start0, end0, ...]. */
  seekDataHole(pathOrFd: string | number, startBytes: number, endBytes: number): Promise<Float64Array>;
  /** getsockopt(SO_PEERCRED) of a connected unix socket. */
  getPeerCred(fd: number): PeerCred;
  /**
   * State (untouched/present/swapped) and node of every 4 KiB page of
   * [startAddr, endAddr), one native call: PAGEMAP_SCAN (pagemap reads when
   * refused, or always with `readMode` 'pagemap'), then move_pages per
   * `mappingPageBytes` page holding present pages. With `nodeMap` (the
   * sysfs memory-block-to-node table) nodes come from pagemap PFNs instead,
   * move_pages only for pages the table cannot place (PFN 0 without
   * CAP_SYS_ADMIN, a block the table lacks).
   */
  pageStates(pid: number, startAddr: number, endAddr: number, mappingPageBytes: number, opts?: PageStatesOptions): Promise<PageStatesResult>;
}

/** The same TypeError the addon throws for a bad argument (native/args.h, ThrowUsage). */
function usage(fn: string, why: string): TypeError {
  return Object.assign(new TypeError(`${fn}: ${why}`), { code: 'ERR_INVALID_ARG' });
}

function checkInt(fn: string, name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw usage(fn, `${name} must be an integer >= ${min} (got ${String(v)})`);
}

function checkPid(fn: string, pid: unknown): void {
  checkInt(fn, 'pid', pid, 1);
}

function checkPath(fn: string, p: unknown): void {
  if (typeof p !== 'string' || p === '') throw usage(fn, `path must be a non-empty string (got ${String(p)})`);
}

function checkAddrs(fn: string, addrs: unknown): asserts addrs is Float64Array {
  if (!(addrs instanceof Float64Array)) throw usage(fn, 'addresses must be a Float64Array');
}

function checkRanges(fn: string, ranges: unknown): void {
  checkAddrs(fn, ranges);
  if ((ranges as Float64Array).length % 2 !== 0) throw usage(fn, 'ranges must be [start, length] pairs');
}

function checkWindow(fn: string, start: unknown, end: unknown): void {
  checkInt(fn, 'startAddr', start, 0);
  checkInt(fn, 'endAddr', end, 0);
  if ((start as number) % PAGE_BYTES !== 0 || (end as number) % PAGE_BYTES !== 0 || (end as number) <= (start as number)) {
    throw usage(fn, `startAddr and endAddr must be page-aligned with startAddr < endAddr (got ${String(start)}, ${String(end)})`);
  }
}

/**
 * move_pages(2) answers EINVAL, not ESRCH, for a task that still exists but
 * has no mm: one that is exiting (exit_mm has run) or a zombie not yet reaped
 * (find_mm_struct in mm/migrate.c: get_task_mm returns NULL). A guest's QEMU
 * being destroyed passes through that state, so a cycle in flight must see
 * "process gone", not a failure. /proc/PID/stat then shows state Z or X, or a
 * vsize of 0 (field 23: no address space), or is gone itself.
 */
async function asGoneIfNoMm(pid: number, err: unknown): Promise<never> {
  if (isErrno(err, 'EINVAL')) {
    let stat: string | undefined;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      // gone between the call and this read
    }
    const fields = stat?.slice(stat.lastIndexOf(') ') + 2).split(' ');
    if (fields === undefined || fields[0] === 'Z' || fields[0] === 'X' || fields[20] === '0') {
      throw processGone(pid, { syscall: 'move_pages' });
    }
  }
  throw err;
}

/** KernelOps over an addon binding (the real one, or a stand-in with the same shape). */
export function kernelOver(binding: () => NativeBinding): KernelOps {
  return {
    queryPageNodes(pid, addrs) {
      checkPid('queryPageNodes', pid);
      checkAddrs('queryPageNodes', addrs);
      return binding().movePages(pid, addrs, null, 0).catch((err: unknown) => asGoneIfNoMm(pid, err));
    },
    movePages(pid, addrs, nodes) {
      checkPid('movePages', pid);
      checkAddrs('movePages', addrs);
      if (!(nodes instanceof Int32Array) || nodes.length !== addrs.length) throw usage('movePages', 'nodes must be an Int32Array as long as addrs');
      return binding().movePages(pid, addrs, nodes, MPOL_MF_MOVE).catch((err: unknown) => asGoneIfNoMm(pid, err));
    },
    pageout(pid, ranges) {
      checkPid('pageout', pid);
      checkRanges('pageout', ranges);
      return binding().processMadvise(pid, ranges, MADV_PAGEOUT);
    },
    adviseCold(pid, ranges) {
      checkPid('adviseCold', pid);
      checkRanges('adviseCold', ranges);
      return binding().processMadvise(pid, ranges, MADV_COLD);
    },
    pagemapScan(pid, start, end, filter, maxPages = 0) {
      checkPid('pagemapScan', pid);
      checkWindow('pagemapScan', start, end);
      checkInt('pagemapScan', 'maxPages', maxPages, 0);
      return binding().pagemapScan(pid, start, end, filter.categoryInverted ?? 0, filter.categoryMask ?? 0, filter.categoryAnyOfMask ?? 0, filter.returnMask, maxPages);
    },
    pagemapScanCounts(pid, start, end, filter) {
      checkPid('pagemapScanCounts', pid);
      checkWindow('pagemapScanCounts', start, end);
      return binding().pagemapScanCounts(pid, start, end, filter.categoryInverted ?? 0, filter.categoryMask ?? 0, filter.categoryAnyOfMask ?? 0, filter.returnMask);
    },
    readPagemap(pid, startAddr, pageCount) {
      checkPid('readPagemap', pid);
      checkInt('readPagemap', 'startAddr', startAddr, 0);
      if (startAddr % PAGE_BYTES !== 0) throw usage('readPagemap', `startAddr must be page-aligned (got ${startAddr})`);
      checkInt('readPagemap', 'pageCount', pageCount, 0);
      return binding().readPagemap(pid, startAddr, pageCount);
    },
    readPagemapPfns(pid, startAddr, pageCount) {
      checkPid('readPagemapPfns', pid);
      checkInt('readPagemapPfns', 'startAddr', startAddr, 0);
      if (startAddr % PAGE_BYTES !== 0) throw usage('readPagemapPfns', `startAddr must be page-aligned (got ${startAddr})`);
      checkInt('readPagemapPfns', 'pageCount', pageCount, 0);
      return binding().readPagemapPfns(pid, startAddr, pageCount);
    },
    readIdleBitmap(path, firstWord, wordCount) {
      checkPath('readIdleBitmap', path);
      checkInt('readIdleBitmap', 'firstWord', firstWord, 0);
      checkInt('readIdleBitmap', 'wordCount', wordCount, 0);
      return binding().readIdleBitmap(path, firstWord, wordCount);
    },
    writeIdleBitmap(path, firstWord, words) {
      checkPath('writeIdleBitmap', path);
      checkInt('writeIdleBitmap', 'firstWord', firstWord, 0);
      if (!(words instanceof BigUint64Array)) throw usage('writeIdleBitmap', 'words must be a BigUint64Array');
      return binding().writeIdleBitmap(path, firstWord, words);
    },
    readIdlePages(path, startVa, maxBytes, scanFlags) {
      checkPath('readIdlePages', path);
      checkInt('readIdlePages', 'startVa', startVa, 0);
      checkInt('readIdlePages', 'maxBytes', maxBytes, 1);
      checkInt('readIdlePages', 'scanFlags', scanFlags, 0);
      return binding().readIdlePages(path, startVa, maxBytes, scanFlags);
    },
    mincoreFile(path, offsetBytes, lengthBytes) {
      checkPath('mincoreFile', path);
      checkInt('mincoreFile', 'offsetBytes', offsetBytes, 0);
      checkInt('mincoreFile', 'lengthBytes', lengthBytes, 0);
      return binding().mincoreFile(path, offsetBytes, lengthBytes);
    },
    seekDataHole(pathOrFd, startBytes, endBytes) {
      if (typeof pathOrFd === 'number') checkInt('seekDataHole', 'fd', pathOrFd, 0);
      else checkPath('seekDataHole', pathOrFd);
      checkInt('seekDataHole', 'startBytes', startBytes, 0);
      checkInt('seekDataHole', 'endBytes', endBytes, 0);
      return binding().seekDataHole(pathOrFd, startBytes, endBytes);
    },
    getPeerCred(fd) {
      checkInt('getPeerCred', 'fd', fd, 0);
      return binding().getPeerCred(fd);
    },
    pageStates(pid, start, end, mappingPageBytes, opts = {}) {
      const readMode = opts.readMode ?? 'auto';
      checkPid('pageStates', pid);
      checkWindow('pageStates', start, end);
      checkInt('pageStates', 'mappingPageBytes', mappingPageBytes, PAGE_BYTES);
      if (mappingPageBytes > 2 ** 30 || (mappingPageBytes & (mappingPageBytes - 1)) !== 0) {
        throw usage('pageStates', `mappingPageBytes must be a power of two 4096..1073741824 (got ${mappingPageBytes})`);
      }
      if (readMode !== 'auto' && readMode !== 'pagemap') throw usage('pageStates', `readMode must be 'auto' or 'pagemap' (got ${String(readMode)})`);
      const map = opts.nodeMap;
      if (map !== undefined) {
        if (!(map.nodeByBlock instanceof Int16Array) || map.nodeByBlock.length === 0) throw usage('pageStates', 'nodeMap.nodeByBlock must be a non-empty Int16Array');
        checkInt('pageStates', 'nodeMap.blockBytes', map.blockBytes, PAGE_BYTES);
        if (!Number.isInteger(Math.log2(map.blockBytes))) throw usage('pageStates', `nodeMap.blockBytes must be a power of two (got ${map.blockBytes})`);
      }
      return binding().pageStates(pid, start, end, mappingPageBytes, readMode === 'pagemap' ? 1 : 0, map?.nodeByBlock ?? null, map?.blockBytes ?? 0);
    },
  };
}

/** The running kernel, through the addon (loaded on the first call). */
export const liveKernel: KernelOps = kernelOver(loadNative);

/** One KernelOps call as a RecordingKernel logs it: the operation and its plain arguments (typed arrays as lengths). */
export interface KernelCall {
  op: keyof KernelOps;
  args: Array<string | number | null>;
  /** the errno name when the call failed */
  error?: string;
}

function plain(arg: unknown): string | number | null {
  if (typeof arg === 'number' || typeof arg === 'string') return arg;
  if (ArrayBuffer.isView(arg)) return `${arg.constructor.name}(${(arg as unknown as { length: number }).length})`;
  if (arg === undefined || arg === null) return null;
  return JSON.stringify(arg);
}

/**
 * Wraps another KernelOps and appends every call to `calls`, in order (the
 * damo habit, applied to the addon): control code is tested by the exact
 * sequence of kernel calls it makes.
 */
export function recordingKernel(inner: KernelOps): { kernel: KernelOps; calls: KernelCall[] } {
  const calls: KernelCall[] = [];
  const kernel = {} as Record<keyof KernelOps, unknown>;
  for (const op of Object.keys(inner) as Array<keyof KernelOps>) {
    kernel[op] = (...args: unknown[]): unknown => {
      const call: KernelCall = { op, args: args.map(plain) };
      calls.push(call);
      const fail = (err: unknown): never => {
        call.error = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : String(err);
        throw err;
      };
      let result: unknown;
      try {
        result = (inner[op] as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        fail(err);
      }
      return result instanceof Promise ? result.catch(fail) : result;
    };
  }
  return { kernel: kernel as unknown as KernelOps, calls };
}
