/**
 * etmem's `max_threads` as Node has it: a task's thread pool becomes a
 * bound on how much of its work is in flight at once. The work itself
 * (pread of pagemap, idle_pages, move_pages) runs on libuv's threads, so
 * "in flight" is what decides how many of them one task occupies.
 */

/**
 * Runs `work` over `items`, at most `limit` at a time, results in item
 * order. After a rejection nothing new starts; the first error is thrown
 * once the calls already running have settled (none is left touching its
 * target behind the caller's back).
 */
export async function boundedMap<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await work(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  const width = Math.max(1, Math.min(Number.isInteger(limit) ? limit : 1, items.length));
  await Promise.all(Array.from({ length: width }, worker));
  if (failure) throw failure.err;
  return out;
}
