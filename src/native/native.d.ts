/**
 * The native addon's export table (native/*.cc). One function per kernel
 * operation; no state. Conventions:
 * - Addresses are JS numbers (exact below 2^53; x86_64 user VAs are below
 *   2^47, 2^56 with LA57): bulk address lists are Float64Array.
 * - Blocking work (anything touching /proc of another process, move_pages,
 *   process_madvise, big reads) returns a Promise and runs in an AsyncWorker.
 * - Bad arguments throw TypeError with `code` ERR_INVALID_ARG and a usage line.
 * - OS failures reject/throw an Error with `code` (errno name), `errno`
 *   (number) and `syscall`; src/native/errors.ts maps them to SysError.
 */

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeBinding {
  /** getsockopt(fd, SOL_SOCKET, SO_PEERCRED): the credentials of a unix socket's peer. */
  getPeerCred(fd: number): PeerCred;

  /**
   * move_pages(2) on `pid`. With `nodes === null` nothing moves and the
   * result is each page's current node (or a negative errno per page).
   * With `nodes`, page i moves to nodes[i]; the result is the per-page
   * status array (node reached, or negative errno). `flags`: MPOL_MF_MOVE (2)
   * or MPOL_MF_MOVE_ALL (4).
   */
  movePages(pid: number, addrs: Float64Array, nodes: Int32Array | null, flags: number): Promise<Int32Array>;

  /**
   * pidfd_open + process_madvise(2) on `pid` over ranges given as
   * [start0, len0, start1, len1, ...], in iovec batches of at most IOV_MAX.
   * Resolves to the number of bytes advised. `advice`: MADV_COLD (20),
   * MADV_PAGEOUT (21).
   */
  processMadvise(pid: number, ranges: Float64Array, advice: number): Promise<number>;

  /**
   * pread of /proc/PID/pagemap: the raw 64-bit entries for `pageCount` 4 KiB
   * pages from `startAddr` (page-aligned). Shorter when the address space ends.
   * Decode with src/native/pagemap.ts.
   */
  readPagemap(pid: number, startAddr: number, pageCount: number): Promise<BigUint64Array>;

  /**
   * The same read, decoded natively: per page the PFN (0 when not present
   * or without CAP_SYS_ADMIN) and flags (bit 0 present, bit 1 swapped).
   */
  readPagemapPfns(pid: number, startAddr: number, pageCount: number): Promise<PagemapPfns>;

  /**
   * ioctl(PAGEMAP_SCAN) on /proc/PID/pagemap over [start, end), repeated until
   * the walk reaches `end` (or `maxPages` matching pages, 0 = no limit).
   * Category bits are PAGE_IS_* (src/native/pagemap.ts). Resolves to regions
   * as [start0, end0, categories0, start1, ...] (neighbours with equal
   * categories merged) and where the walk stopped. Rejects with ENOTTY on
   * kernels before 6.7, EINVAL for category bits the kernel does not know.
   */
  pagemapScan(
    pid: number, start: number, end: number,
    categoryInverted: number, categoryMask: number, categoryAnyOfMask: number, returnMask: number, maxPages: number,
  ): Promise<PagemapScanResult>;

  /**
   * The same walk as pagemapScan, returning only page counts per distinct
   * category value ([categories0, pages0, categories1, pages1, ...]) and the
   * number of (merged) regions: page stats without materialising regions.
   */
  pagemapScanCounts(
    pid: number, start: number, end: number,
    categoryInverted: number, categoryMask: number, categoryAnyOfMask: number, returnMask: number,
  ): Promise<PagemapScanCounts>;

  /** pread of whole 8-byte words of the page_idle bitmap at `path` (bit i of word w = PFN 64*w+i). */
  readIdleBitmap(path: string, firstWord: number, wordCount: number): Promise<BigUint64Array>;

  /** pwrite of whole words to the page_idle bitmap (a set bit marks that PFN idle). Resolves to bytes written. */
  writeIdleBitmap(path: string, firstWord: number, words: BigUint64Array): Promise<number>;

  /**
   * etmem's idle_pages: open `path` (/proc/PID/idle_pages), set `scanFlags`
   * with ioctl(IDLE_SCAN_ADD_FLAGS) when non-zero (SCAN_AS_HUGE 0x1000000,
   * SCAN_IGN_HOST 0x2000000), seek to `startVa`, read up to `maxBytes`.
   * `nextVa` is the file position afterwards (where the module's walk stopped).
   */
  readIdlePages(path: string, startVa: number, maxBytes: number, scanFlags: number): Promise<IdlePagesRead>;

  /**
   * mmap(PROT_READ, MAP_SHARED) of [offset, offset+length) of the file at
   * `path` (e.g. /proc/PID/map_files/START-END) in this process, mincore,
   * munmap: 1 per resident 4 KiB page, else 0.
   */
  mincoreFile(path: string, offset: number, length: number): Promise<Uint8Array>;

  /** lseek(SEEK_DATA/SEEK_HOLE) over [start, end): data extents as [start0, end0, start1, end1, ...]. */
  seekDataHole(pathOrFd: string | number, start: number, end: number): Promise<Float64Array>;

  /**
   * Page state and node of every 4 KiB page of [start, end) of `pid` in one
   * call (native/page_states.cc): PAGEMAP_SCAN (readMode 0; pagemap reads
   * when the kernel refuses it, or always with readMode 1) classifies pages
   * as 0 untouched, 1 present, 2 swapped; move_pages(NULL nodes) gives the
   * node of each `mappingPageBytes` page holding present pages. With
   * `nodeByBlock` (node per memory block of `blockBytes`, -1 unknown) the
   * walk reads pagemap and a present page's node is its PFN's block entry;
   * move_pages is asked only for present pages the table cannot place.
   */
  pageStates(pid: number, start: number, end: number, mappingPageBytes: number, readMode: number, nodeByBlock: Int16Array | null, blockBytes: number): Promise<PageStatesResult>;
}

export interface PagemapPfns {
  pfn: Float64Array;
  /** bit 0 present, bit 1 swapped */
  flags: Uint8Array;
}

export interface PageStatesResult {
  /** one byte per 4 KiB page: 0 untouched, 1 present, 2 swapped */
  states: Uint8Array;
  /** node per 4 KiB page, -1 when not present or unknown */
  nodes: Int16Array;
  /** pages [untouched, present, swapped] */
  counts: Float64Array;
  /** [node, presentPages] pairs (node -1: present, node unknown) */
  presentPagesByNode: Float64Array;
  source: 'PAGEMAP_SCAN' | 'pagemap';
}

export interface PagemapScanResult {
  /** [start, end, categories] triples */
  regions: Float64Array;
  /** the address where the walk stopped (== end unless maxPages cut it short) */
  walkEnd: number;
}

export interface PagemapScanCounts {
  /** [categories, pages] pairs, one per distinct category value */
  pagesByCategories: Float64Array;
  /** regions the walk found (neighbours with equal categories merged) */
  regions: number;
  walkEnd: number;
}

export interface IdlePagesRead {
  data: Buffer;
  nextVa: number;
}
