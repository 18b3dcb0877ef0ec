/**
 * The daemon's HTTP side: the websocket stats feed (`/feed`), Prometheus
 * metrics (`/metrics`) and the live view page (`/`), on one node:http
 * server. This file only wires the parts together:
 *
 * - task-entries.ts: every `updateIntervalMs` the registry's tasks are read
 *   once into per-task JSON entries;
 * - sessions.ts: each websocket client gets the entries that changed since
 *   its last message (docs/feed.md), under backpressure and a heartbeat;
 * - http-routes.ts: which path serves what;
 * - access.ts: the token, Origin and capacity checks (loopback unless an
 *   address and a token are configured: listen-check.ts);
 * - metrics-endpoint.ts: `/metrics`.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { invalidField } from '../errors.js';
import type { EngineLogger } from '../runner/engine.js';
import type { TaskRuntime } from '../model/task-runtime.js';
import { requestHandler, loadLiveView, upgradeHandler } from './http-routes.js';
import { checkListen } from './listen-check.js';
import type { FeedCounters } from './metrics.js';
import { metricsPage } from './metrics-endpoint.js';
import { MAX_CLIENT_MESSAGE_BYTES } from './protocol.js';
import type { ScanObserver } from './scan-observer.js';
import { FeedSessions } from './sessions.js';
import { TaskEntries } from './task-entries.js';

export interface FeedServerOptions {
  /** the daemon's object registry (only `tasks()` is used) */
  registry: { tasks(): TaskRuntime[] };
  listen: { host: string; port: number };
  /** required for a non-loopback address; when set, /feed and /metrics require it */
  token?: string;
  /** DNS names a request's Host may carry besides loopback names and addresses (--http-allow-host) */
  allowHosts?: string[];
  log: EngineLogger;
  /** default 1000 */
  updateIntervalMs?: number;
  /** scan timing and heat strips (wired between engines and trackers) */
  scans?: ScanObserver;
  /** default 30000 */
  heartbeatIntervalMs?: number;
  /** per-client send-buffer bound, default 1 MiB */
  maxBufferedBytes?: number;
  /** how long a client may stay over the bound before it is dropped, default 10000 */
  slowClientTimeoutMs?: number;
  /** default 256; more connections get 503 */
  maxClients?: number;
  /** open HTTP connections at most, websockets included (default maxClients + 64): bounds the daemon's fds */
  maxConnections?: number;
  /** open connections from one remote address at most (default 128) */
  maxConnectionsPerAddress?: number;
}

export interface FeedServer {
  /** http://HOST:PORT (the port actually bound) */
  url: string;
  counters(): FeedCounters;
  close(): Promise<void>;
}

function checkMs(field: string, v: number | undefined, def: number, min: number, max: number): number {
  const value = v ?? def;
  if (!Number.isInteger(value) || value < min || value > max) throw invalidField(field, value, `${min}..${max} (ms)`);
  return value;
}

/** Starts the feed/metrics/live-view server; resolves once it listens. */
export async function startFeedServer(opts: FeedServerOptions): Promise<FeedServer> {
  checkListen(opts.listen, opts.token);
  const updateIntervalMs = checkMs('updateIntervalMs', opts.updateIntervalMs, 1000, 10, 60000);
  const heartbeatIntervalMs = checkMs('heartbeatIntervalMs', opts.heartbeatIntervalMs, 30000, 10, 600000);
  const slowClientTimeoutMs = checkMs('slowClientTimeoutMs', opts.slowClientTimeoutMs, 10000, 0, 600000);
  const maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxBufferedBytes) || maxBufferedBytes < 1024) throw invalidField('maxBufferedBytes', maxBufferedBytes, '>= 1024');
  const maxClients = opts.maxClients ?? 256;
  const maxConnections = opts.maxConnections ?? maxClients + 64;
  const maxPerAddress = opts.maxConnectionsPerAddress ?? 128;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw invalidField('maxConnections', maxConnections, '>= 1');
  if (!Number.isInteger(maxPerAddress) || maxPerAddress < 1) throw invalidField('maxConnectionsPerAddress', maxPerAddress, '>= 1');
  const { log, token } = opts;

  const counters: FeedCounters = { clients: 0, droppedUpdates: 0, slowClientsDropped: 0, deadClientsDropped: 0, rejectedUpgrades: 0, maxClientBufferedBytes: 0 };
  const tasks = new TaskEntries(opts.registry, log, opts.scans);
  const sessions = new FeedSessions(tasks, counters, { updateIntervalMs, maxBufferedBytes, slowClientTimeoutMs }, log);

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  // With no client connected the update timer reads the tasks (for /metrics' counters) but makes no
  // JSON: it is for clients only, and 50 tasks' JSON a second was most of the feed's CPU (issue 11).
  // The first client after such a stretch gets entries made for it.
  let entriesStale = false;
  wss.on('connection', (ws: WebSocket) => {
    if (entriesStale) {
      tasks.refresh();
      entriesStale = false;
    }
    sessions.attach(ws);
  });

  const listenHosts = [opts.listen.host, ...(opts.allowHosts ?? [])];
  const server = createServer(requestHandler({ token, listenHosts, log, liveView: loadLiveView(), metrics: () => metricsPage(tasks, counters, sessions) }));
  // Every connection is an fd of the (root) daemon: bound them all, and per remote address, so no local
  // user can exhaust the daemon's descriptors. net.Server closes connections over maxConnections at once.
  server.maxConnections = maxConnections;
  // A connection that sends nothing, or headers too slowly, is closed (upgraded websockets: ws clears this).
  server.timeout = 30_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const perAddress = new Map<string, number>();
  server.on('connection', (socket) => {
    const addr = socket.remoteAddress ?? '?';
    const n = perAddress.get(addr) ?? 0;
    if (n >= maxPerAddress) {
      socket.destroy();
      return;
    }
    perAddress.set(addr, n + 1);
    socket.once('close', () => {
      const left = (perAddress.get(addr) ?? 1) - 1;
      if (left <= 0) perAddress.delete(addr);
      else perAddress.set(addr, left);
    });
  });
  server.on('upgrade', upgradeHandler({
    token, maxClients, wss, log, listenHosts,
    clients: () => sessions.size,
    onRefused: () => void counters.rejectedUpgrades++,
  }));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.listen.host.replace(/^\[|\]$/g, ''), port: opts.listen.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error('feed: server error', { error: err.message }));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.listen.port;
  const hostForUrl = opts.listen.host.includes(':') && !opts.listen.host.startsWith('[') ? `[${opts.listen.host}]` : opts.listen.host;
  const url = `http://${hostForUrl}:${port}`;

  tasks.refresh();
  const updateTimer = setInterval(() => {
    try {
      if (sessions.size === 0) {
        tasks.refreshUpdates();
        entriesStale = true;
        return;
      }
      tasks.refresh();
      sessions.pushAll(Date.now());
    } catch (err) {
      log.error('feed: update failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }, updateIntervalMs);
  const heartbeatTimer = setInterval(() => sessions.heartbeat(), heartbeatIntervalMs);
  updateTimer.unref();
  heartbeatTimer.unref();
  log.info('feed listening', { url, token: token !== undefined });

  return {
    url,
    counters: () => ({ ...counters, maxClientBufferedBytes: sessions.maxBufferedBytes() }),
    async close() {
      clearInterval(updateTimer);
      clearInterval(heartbeatTimer);
      sessions.terminateAll();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
