/**
 * The daemon's HTTP side: the websocket stats feed (`/feed`), Prometheus
 * metrics (`/metrics`) and the live view page (`/`), on one node:http
 * server.
 *
 * - Every `updateIntervalMs` the registry's tasks are read once and turned
 *   into per-task JSON entries; each client gets the entries that changed
 *   since its last message (docs/feed.md).
 * - Backpressure: a client whose send buffer (`ws.bufferedAmount`: node's
 *   socket buffer plus ws's queue) is over `maxBufferedBytes` gets no new
 *   update (counted in `dropped`, it receives the latest state once it
 *   catches up); one that stays over it for `slowClientTimeoutMs` is
 *   terminated. So a client that stops reading costs at most about one
 *   update beyond the bound, never more.
 * - Heartbeat (the ws pattern): every `heartbeatIntervalMs` a client that
 *   did not answer the previous ping is terminated, the others are pinged.
 * - Access: loopback unless an address and a token are configured
 *   (listen-check.ts); with a token, `/feed` and `/metrics` need it
 *   (`Authorization: Bearer` or `?token=`): 401 otherwise. A browser
 *   Origin must match the Host (no cross-site page reads the feed).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { invalidField } from '../errors.js';
import type { EngineLogger } from '../runner/engine.js';
import type { TaskRuntime } from '../model/task-runtime.js';
import { checkListen, requestToken, tokenMatches } from './listen-check.js';
import { MoveErrorCounters, renderMetrics, sampleProcess, type FeedCounters } from './metrics.js';
import { allSubscription, FEED_SCHEMA_VERSION, FeedProtocolError, MAX_CLIENT_MESSAGE_BYTES, parseClientMessage, subscribed, type ServerMessage, type Subscription } from './protocol.js';
import { taskKey, type ScanObserver } from './scan-observer.js';
import { taskUpdate, type TaskUpdate } from './snapshot.js';

export interface FeedServerOptions {
  /** the daemon's object registry (only `tasks()` is used) */
  registry: { tasks(): TaskRuntime[] };
  listen: { host: string; port: number };
  /** required for a non-loopback address; when set, /feed and /metrics require it */
  token?: string;
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
}

export interface FeedServer {
  /** http://HOST:PORT (the port actually bound) */
  url: string;
  counters(): FeedCounters;
  close(): Promise<void>;
}

interface Client {
  ws: WebSocket;
  isAlive: boolean;
  subscription: Subscription;
  /** task key -> version of the entry last sent */
  sent: Map<string, number>;
  dropped: number;
  overBoundSinceMs: number | undefined;
  badMessages: number;
}

interface Entry {
  key: string;
  name: string;
  domain?: string;
  json: string;
  version: number;
}

const MAX_BAD_MESSAGES = 100;

function checkMs(field: string, v: number | undefined, def: number, min: number, max: number): number {
  const value = v ?? def;
  if (!Number.isInteger(value) || value < min || value > max) throw invalidField(field, value, `${min}..${max} (ms)`);
  return value;
}

/** The live view page (web/live.html), found next to the package root from dist/ or src/. */
function loadLiveView(): string | undefined {
  for (const rel of ['../../../web/live.html', '../../web/live.html']) {
    try {
      return readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
    } catch {
      // try the next layout
    }
  }
  return undefined;
}

function rejectUpgrade(socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
  socket.destroy();
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
  const { log, token } = opts;
  const liveView = loadLiveView();

  const counters: FeedCounters = { clients: 0, droppedUpdates: 0, slowClientsDropped: 0, deadClientsDropped: 0, rejectedUpgrades: 0, maxClientBufferedBytes: 0 };
  const moveErrors = new MoveErrorCounters();
  const clients = new Set<Client>();
  const entries = new Map<string, Entry>();
  let lastUpdates: TaskUpdate[] = [];

  /** Reads the registry once; refreshes `entries` (a new version when an entry's JSON changed). */
  const refresh = (): void => {
    const updates: TaskUpdate[] = [];
    for (const runtime of opts.registry.tasks()) {
      try {
        const view = runtime.view();
        updates.push(taskUpdate(view, opts.scans?.get(taskKey(view))));
      } catch (err) {
        log.warn('feed: cannot read a task', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    const keys = new Set(updates.map((u) => u.key));
    for (const u of updates) {
      moveErrors.observe(u);
      const json = JSON.stringify(u);
      const old = entries.get(u.key);
      if (!old) entries.set(u.key, { key: u.key, name: u.name, domain: u.domain, json, version: 1 });
      else if (old.json !== json) {
        old.json = json;
        old.version++;
      }
    }
    for (const k of entries.keys()) if (!keys.has(k)) entries.delete(k);
    moveErrors.retain(keys);
    opts.scans?.retain(keys);
    lastUpdates = updates;
  };

  const sendRaw = (c: Client, text: string): void => {
    c.ws.send(text, (err) => {
      if (err) log.debug('feed: send failed', { error: err.message });
    });
  };
  const send = (c: Client, msg: ServerMessage): void => {
    if (c.ws.readyState !== WebSocket.OPEN || c.ws.bufferedAmount > maxBufferedBytes) return;
    sendRaw(c, JSON.stringify(msg));
  };

  /** Sends `c` the entries that changed for it; applies the backpressure policy. */
  const pushUpdate = (c: Client, nowMs: number): void => {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > maxBufferedBytes) {
      c.dropped++;
      counters.droppedUpdates++;
      c.overBoundSinceMs ??= nowMs;
      if (nowMs - c.overBoundSinceMs >= slowClientTimeoutMs) {
        counters.slowClientsDropped++;
        log.warn('feed: dropping a client that does not read', { bufferedBytes: c.ws.bufferedAmount, droppedUpdates: c.dropped });
        c.ws.terminate();
      }
      return;
    }
    c.overBoundSinceMs = undefined;
    const parts: string[] = [];
    for (const e of entries.values()) {
      if (!subscribed(c.subscription, e)) continue;
      if (c.sent.get(e.key) === e.version) continue;
      parts.push(e.json);
      c.sent.set(e.key, e.version);
    }
    const removed: string[] = [];
    for (const k of c.sent.keys()) {
      if (!entries.has(k)) {
        removed.push(k);
        c.sent.delete(k);
      }
    }
    if (parts.length === 0 && removed.length === 0) return;
    sendRaw(c, `{"v":${FEED_SCHEMA_VERSION},"type":"update","timeMs":${nowMs},"dropped":${c.dropped},"tasks":[${parts.join(',')}],"removed":${JSON.stringify(removed)}}`);
    c.dropped = 0;
  };

  const onMessage = (c: Client, data: RawData, isBinary: boolean): void => {
    try {
      if (isBinary) throw new FeedProtocolError('message', 'binary frames are not understood', 'a JSON text frame', 'OPT_PROTO');
      const req = parseClientMessage(data.toString());
      c.subscription = req.subscription;
      c.sent.clear();
      send(c, { v: 1, type: 'subscribed', all: req.subscription.all, tasks: [...req.subscription.tasks], domains: [...req.subscription.domains] });
      pushUpdate(c, Date.now());
    } catch (err) {
      const e = err instanceof FeedProtocolError ? err : new FeedProtocolError('message', err instanceof Error ? err.message : String(err), undefined, 'OPT_PROTO');
      send(c, e.toMessage());
      if (++c.badMessages >= MAX_BAD_MESSAGES) c.ws.close(1008, 'too many bad messages');
    }
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws: WebSocket) => {
    const c: Client = { ws, isAlive: true, subscription: allSubscription(), sent: new Map(), dropped: 0, overBoundSinceMs: undefined, badMessages: 0 };
    clients.add(c);
    counters.clients = clients.size;
    ws.on('pong', () => {
      c.isAlive = true;
    });
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('error', (err) => log.debug('feed: client error', { error: err.message }));
    ws.on('close', () => {
      clients.delete(c);
      counters.clients = clients.size;
    });
    send(c, { v: 1, type: 'hello', server: 'virt-tierd', pid: process.pid, updateIntervalMs, tasks: [...entries.keys()] });
    pushUpdate(c, Date.now());
  });

  const authorized = (req: IncomingMessage, url: URL): boolean => token === undefined || tokenMatches(token, requestToken(req.headers, url));
  const originAllowed = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  };
  const maxBuffered = (): number => {
    let max = 0;
    for (const c of clients) max = Math.max(max, c.ws.bufferedAmount);
    return max;
  };
  const requestUrl = (req: IncomingMessage): URL => new URL(req.url ?? '/', 'http://feed.invalid');

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = requestUrl(req);
    const reply = (status: number, type: string, body: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
    switch (url.pathname) {
      case '/':
      case '/index.html':
        if (liveView === undefined) return reply(500, 'text/plain', 'live view page (web/live.html) not installed\n');
        return reply(200, 'text/html; charset=utf-8', liveView, {
          'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
        });
      case '/metrics':
        if (!authorized(req, url)) return reply(401, 'text/plain', 'unauthorized: token required\n', { 'WWW-Authenticate': 'Bearer' });
        refresh();
        return reply(200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(lastUpdates, moveErrors, { ...counters, maxClientBufferedBytes: maxBuffered() }, sampleProcess()));
      case '/feed':
        return reply(426, 'text/plain', 'websocket upgrade required\n', { Upgrade: 'websocket' });
      default:
        return reply(404, 'text/plain', 'not found\n');
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = requestUrl(req);
    if (url.pathname !== '/feed') {
      counters.rejectedUpgrades++;
      return rejectUpgrade(socket, 404, 'Not Found');
    }
    if (!authorized(req, url)) {
      counters.rejectedUpgrades++;
      log.warn('feed: upgrade without a valid token', { remote: socket.remoteAddress });
      return rejectUpgrade(socket, 401, 'Unauthorized');
    }
    if (!originAllowed(req)) {
      counters.rejectedUpgrades++;
      return rejectUpgrade(socket, 403, 'Forbidden');
    }
    if (clients.size >= maxClients) {
      counters.rejectedUpgrades++;
      return rejectUpgrade(socket, 503, 'Service Unavailable');
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

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

  refresh();
  const updateTimer = setInterval(() => {
    try {
      refresh();
      const now = Date.now();
      for (const c of clients) pushUpdate(c, now);
    } catch (err) {
      log.error('feed: update failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }, updateIntervalMs);
  const heartbeatTimer = setInterval(() => {
    for (const c of clients) {
      if (!c.isAlive) {
        counters.deadClientsDropped++;
        log.info('feed: dropping a client that missed a heartbeat');
        c.ws.terminate();
        continue;
      }
      c.isAlive = false;
      c.ws.ping();
    }
  }, heartbeatIntervalMs);
  updateTimer.unref();
  heartbeatTimer.unref();
  log.info('feed listening', { url, token: token !== undefined });

  return {
    url,
    counters: () => ({ ...counters, maxClientBufferedBytes: maxBuffered() }),
    async close() {
      clearInterval(updateTimer);
      clearInterval(heartbeatTimer);
      for (const c of clients) c.ws.terminate();
      clients.clear();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
