/**
 * The feed's websocket sessions: one per connected client, with its
 * subscription and what it was last sent.
 *
 * - Backpressure: a client whose send buffer (`ws.bufferedAmount`: node's
 *   socket buffer plus ws's queue) is over `maxBufferedBytes` gets no new
 *   update (counted in `dropped`, it receives the latest state once it
 *   catches up); one that stays over it for `slowClientTimeoutMs` is
 *   terminated. So a client that stops reading costs at most about one
 *   update beyond the bound, never more.
 * - Heartbeat (the ws pattern): each `heartbeat()` terminates a client that
 *   did not answer the previous ping and pings the others.
 * - A message the feed does not understand gets an `error` message; after
 *   MAX_BAD_MESSAGES of them the connection is closed with 1008.
 */
import { WebSocket, type RawData } from 'ws';
import type { EngineLogger } from '../runner/engine.js';
import type { FeedCounters } from './metrics.js';
import { allSubscription, FEED_SCHEMA_VERSION, FeedProtocolError, parseClientMessage, subscribed, type ServerMessage, type Subscription } from './protocol.js';
import type { TaskEntries } from './task-entries.js';

export const MAX_BAD_MESSAGES = 100;

export interface SessionLimits {
  /** announced in `hello` */
  updateIntervalMs: number;
  maxBufferedBytes: number;
  slowClientTimeoutMs: number;
}

interface Session {
  ws: WebSocket;
  isAlive: boolean;
  subscription: Subscription;
  /** task key -> version of the entry last sent */
  sent: Map<string, number>;
  dropped: number;
  overBoundSinceMs: number | undefined;
  badMessages: number;
}

export class FeedSessions {
  private readonly sessions = new Set<Session>();

  constructor(
    private readonly tasks: TaskEntries,
    private readonly counters: FeedCounters,
    private readonly limits: SessionLimits,
    private readonly log: EngineLogger,
  ) {}

  /** connected clients */
  get size(): number {
    return this.sessions.size;
  }

  /** Takes over a freshly upgraded websocket: greets it and sends it everything (it starts subscribed to all). */
  attach(ws: WebSocket): void {
    const s: Session = { ws, isAlive: true, subscription: allSubscription(), sent: new Map(), dropped: 0, overBoundSinceMs: undefined, badMessages: 0 };
    this.sessions.add(s);
    this.counters.clients = this.sessions.size;
    ws.on('pong', () => {
      s.isAlive = true;
    });
    ws.on('message', (data, isBinary) => this.onMessage(s, data, isBinary));
    ws.on('error', (err) => this.log.debug('feed: client error', { error: err.message }));
    ws.on('close', () => {
      this.sessions.delete(s);
      this.counters.clients = this.sessions.size;
    });
    this.send(s, { v: 1, type: 'hello', server: 'virt-tierd', pid: process.pid, updateIntervalMs: this.limits.updateIntervalMs, tasks: [...this.tasks.entries.keys()] });
    this.pushUpdate(s, Date.now());
  }

  /** Sends every client the entries that changed for it. */
  pushAll(nowMs: number): void {
    for (const s of this.sessions) this.pushUpdate(s, nowMs);
  }

  /** One heartbeat: terminates clients that missed the last ping, pings the rest. */
  heartbeat(): void {
    for (const s of this.sessions) {
      if (!s.isAlive) {
        this.counters.deadClientsDropped++;
        this.log.info('feed: dropping a client that missed a heartbeat');
        // Out of the set now, not at its 'close' event: on a loaded host that
        // event can come after the next heartbeat, which counted it twice.
        this.sessions.delete(s);
        this.counters.clients = this.sessions.size;
        s.ws.terminate();
        continue;
      }
      s.isAlive = false;
      s.ws.ping();
    }
  }

  /** the largest send buffer of any client now */
  maxBufferedBytes(): number {
    let max = 0;
    for (const s of this.sessions) max = Math.max(max, s.ws.bufferedAmount);
    return max;
  }

  terminateAll(): void {
    for (const s of this.sessions) s.ws.terminate();
    this.sessions.clear();
  }

  private sendRaw(s: Session, text: string): void {
    s.ws.send(text, (err) => {
      if (err) this.log.debug('feed: send failed', { error: err.message });
    });
  }

  private send(s: Session, msg: ServerMessage): void {
    if (s.ws.readyState !== WebSocket.OPEN || s.ws.bufferedAmount > this.limits.maxBufferedBytes) return;
    this.sendRaw(s, JSON.stringify(msg));
  }

  /** Sends `s` the entries that changed for it; applies the backpressure policy. */
  private pushUpdate(s: Session, nowMs: number): void {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    if (s.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      s.dropped++;
      this.counters.droppedUpdates++;
      s.overBoundSinceMs ??= nowMs;
      if (nowMs - s.overBoundSinceMs >= this.limits.slowClientTimeoutMs) {
        this.counters.slowClientsDropped++;
        this.log.warn('feed: dropping a client that does not read', { bufferedBytes: s.ws.bufferedAmount, droppedUpdates: s.dropped });
        s.ws.terminate();
      }
      return;
    }
    s.overBoundSinceMs = undefined;
    const entries = this.tasks.entries;
    const parts: string[] = [];
    for (const e of entries.values()) {
      if (!subscribed(s.subscription, e)) continue;
      if (s.sent.get(e.key) === e.version) continue;
      parts.push(e.json);
      s.sent.set(e.key, e.version);
    }
    const removed: string[] = [];
    for (const k of s.sent.keys()) {
      if (!entries.has(k)) {
        removed.push(k);
        s.sent.delete(k);
      }
    }
    if (parts.length === 0 && removed.length === 0) return;
    this.sendRaw(s, `{"v":${FEED_SCHEMA_VERSION},"type":"update","timeMs":${nowMs},"dropped":${s.dropped},"tasks":[${parts.join(',')}],"removed":${JSON.stringify(removed)}}`);
    s.dropped = 0;
  }

  private onMessage(s: Session, data: RawData, isBinary: boolean): void {
    try {
      if (isBinary) throw new FeedProtocolError('message', 'binary frames are not understood', 'a JSON text frame', 'OPT_PROTO');
      const req = parseClientMessage(data.toString());
      s.subscription = req.subscription;
      s.sent.clear();
      this.send(s, { v: 1, type: 'subscribed', all: req.subscription.all, tasks: [...req.subscription.tasks], domains: [...req.subscription.domains] });
      this.pushUpdate(s, Date.now());
    } catch (err) {
      const e = err instanceof FeedProtocolError ? err : new FeedProtocolError('message', err instanceof Error ? err.message : String(err), undefined, 'OPT_PROTO');
      this.send(s, e.toMessage());
      if (++s.badMessages >= MAX_BAD_MESSAGES) s.ws.close(1008, 'too many bad messages');
    }
  }
}
