/**
 * The `/metrics` endpoint: a fresh read of the registry rendered in the
 * Prometheus text format (metrics.ts), with the feed's own counters. The
 * read skips the feed entries' JSON (TaskEntries.refreshUpdates): a scrape
 * renders text, and clients get JSON at the update timer's refresh.
 * Access (the token) is checked by the router before this runs.
 */
import { renderMetrics, sampleProcess, type FeedCounters } from './metrics.js';
import type { FeedSessions } from './sessions.js';
import type { TaskEntries } from './task-entries.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The body of one `/metrics` scrape. */
export function metricsPage(tasks: TaskEntries, counters: FeedCounters, sessions: FeedSessions): string {
  return renderMetrics(tasks.refreshUpdates(), tasks.moveErrors, { ...counters, maxClientBufferedBytes: sessions.maxBufferedBytes() }, sampleProcess());
}
