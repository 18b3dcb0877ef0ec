/**
 * The `/metrics` endpoint: a fresh read of the registry rendered in the
 * Prometheus text format (metrics.ts), with the feed's own counters.
 * Access (the token) is checked by the router before this runs.
 */
import { renderMetrics, sampleProcess, type FeedCounters } from './metrics.js';
import type { FeedSessions } from './sessions.js';
import type { TaskEntries } from './task-entries.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The body of one `/metrics` scrape. */
export function metricsPage(tasks: TaskEntries, counters: FeedCounters, sessions: FeedSessions): string {
  tasks.refresh();
  return renderMetrics(tasks.lastUpdates, tasks.moveErrors, { ...counters, maxClientBufferedBytes: sessions.maxBufferedBytes() }, sampleProcess());
}
