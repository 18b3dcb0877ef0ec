/**
 * The node of each present page, for trackers that see pages by virtual
 * address (page_idle, idle_pages): one move_pages(pid, addrs, NULL) call
 * over the addresses, kept as the query's own Float64Array and its status
 * Int32Array (12 bytes per present page, no Map entry per page).
 */

/** move_pages(pid, addrs, NULL): each page's node, or a negative errno. */
export type PageNodesFn = (pid: number, addrs: Float64Array) => Promise<Int32Array>;

/**
 * Looks up the nodes of `addresses` (ascending) in one move_pages call and
 * returns address -> node (-1 for a page it cannot place or did not ask
 * about). Asked in ascending order, as range building does, each lookup is
 * one comparison; any other order falls back to a binary search.
 */
export async function pageNodeLookup(pageNodes: PageNodesFn, pid: number, addresses: Float64Array): Promise<(address: number) => number> {
  if (addresses.length === 0) return () => -1;
  const status = await pageNodes(pid, addresses);
  let next = 0;
  const nodeAt = (k: number): number => ((status[k] ?? -1) >= 0 ? status[k]! : -1);
  return (address) => {
    if (addresses[next] === address) return nodeAt(next++);
    let lo = 0;
    let hi = addresses.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (addresses[mid]! < address) lo = mid + 1;
      else if (addresses[mid]! > address) hi = mid - 1;
      else {
        next = mid + 1;
        return nodeAt(mid);
      }
    }
    return -1;
  };
}
