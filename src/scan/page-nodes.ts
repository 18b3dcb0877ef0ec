/**
 * The node of each present page, for trackers that see pages by virtual
 * address (page_idle, idle_pages): move_pages(pid, addrs, NULL) over the
 * present pages in bounded chunks. What is held per present page is its
 * node (2 bytes); the addresses are walked again from the tracker's own
 * state, not kept (they were 8 bytes a page, and the status 4 more, for
 * the whole target at once: 3 MiB per GiB of 4 KiB pages).
 */

/** move_pages(pid, addrs, NULL): each page's node, or a negative errno. */
export type PageNodesFn = (pid: number, addrs: Float64Array) => Promise<Int32Array>;

/** Addresses of a tracker's present pages, ascending; NaN once past the last. */
export interface PresentCursor {
  next(): number;
}

/** Pages asked about per move_pages call: 512 KiB of addresses and 256 KiB of status, whatever the target's size. */
export const NODE_QUERY_CHUNK_PAGES = 65536;

/**
 * Looks up the nodes of `count` present pages (the cursors walk them in
 * ascending order) and returns address -> node (-1 for a page it cannot
 * place or did not ask about). Asked in ascending order, as range building
 * does, the lookups walk the pages once in all; a lookup below the last
 * one starts the walk again.
 */
export async function pageNodeLookup(pageNodes: PageNodesFn, pid: number, count: number, cursor: () => PresentCursor, chunkPages = NODE_QUERY_CHUNK_PAGES): Promise<(address: number) => number> {
  if (count === 0) return () => -1;
  // Node ids are below MAX_NUMNODES (1024): 2 bytes each.
  const nodes = new Int16Array(count);
  const buf = new Float64Array(Math.min(chunkPages, count));
  const fill = cursor();
  for (let done = 0; done < count; ) {
    const n = Math.min(buf.length, count - done);
    for (let j = 0; j < n; j++) buf[j] = fill.next();
    const status = await pageNodes(pid, n === buf.length ? buf : buf.subarray(0, n));
    for (let j = 0; j < n; j++) nodes[done + j] = (status[j] ?? -1) >= 0 ? status[j]! : -1;
    done += n;
  }
  let walk = cursor();
  let k = -1;
  let at = -Infinity;
  return (address) => {
    if (address < at) {
      walk = cursor();
      k = -1;
      at = -Infinity;
    }
    while (at < address && k < count) {
      k++;
      at = k < count ? walk.next() : Infinity;
    }
    return at === address ? nodes[k]! : -1;
  };
}
