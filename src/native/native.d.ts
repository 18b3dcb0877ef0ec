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
}
