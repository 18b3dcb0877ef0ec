/**
 * The control socket server. Transport only: it accepts connections on the
 * abstract socket, checks the peer's credentials with SO_PEERCRED, decodes
 * frames, hands each request to the handler table and encodes the reply.
 * Requests are served concurrently, so a slow `obj add` never blocks a
 * `project show` on another connection (or on the same one).
 *
 * What a local user can make the daemon hold is bounded (docs/security.md):
 * - a refused peer is answered with one error frame and its connection
 *   ended; it never counts against the connection cap, and at most
 *   MAX_LINGERING refused connections stay open (each at most 1 s);
 * - peers other than root share `maxConnections - rootReservedConnections`
 *   slots, so root (the CLI, the qemu hook) always finds a free one;
 * - a connection has at most MAX_IN_FLIGHT requests served at once, and
 *   reading stops while its unread replies exceed MAX_UNREAD_REPLY_BYTES:
 *   a peer that pipelines and never reads is held by the kernel's socket
 *   buffers, not by the daemon's heap, until the idle timeout ends it.
 */
import net from 'node:net';
import { VirtTierError } from '../errors.js';
import type { Logger } from '../log.js';
import { liveKernel, type KernelOps, type PeerCred } from '../native/kernel.js';
import { encodeFrame, FrameDecoder, MAX_REQUEST_BYTES, parseRequest, PROTOCOL_VERSION, socketAddress } from './protocol.js';
import { toWireError } from './wire-error.js';

/** `peer` is who sent the request (SO_PEERCRED at connect): handlers that open files act with its rights. */
export type Handler = (args: Record<string, unknown>, peer: PeerCred) => Promise<unknown> | unknown;

/** requests of one connection served at once; further frames wait (and reading pauses) */
export const MAX_IN_FLIGHT = 16;
/** replies the peer has not read yet; above this the daemon stops reading its requests */
export const MAX_UNREAD_REPLY_BYTES = 1 << 20;
/** refusals are logged at most once per this interval, with a count (a flood must not flood the log) */
const REFUSAL_LOG_INTERVAL_MS = 1000;
/** how long a refused connection may stay open for its peer to read the refusal */
const REFUSED_LINGER_MS = 1000;
/** refused connections allowed to linger at once; beyond, they are destroyed at once */
const MAX_LINGERING = 32;

export interface ServerOptions {
  socketName: string;
  handlers: Record<string, Handler>;
  log: Logger;
  /** besides uid 0, peers whose primary gid is this may connect */
  allowedGid?: number;
  /** connections idle this long are closed (ms) */
  idleTimeoutMs?: number;
  /** accepted connections at most (default 128) */
  maxConnections?: number;
  /** of those, slots only root may take (default 8) */
  rootReservedConnections?: number;
  /** SO_PEERCRED lookups; default liveKernel */
  kernel?: Pick<KernelOps, 'getPeerCred'>;
}

/** A failed request's reply; OS errors get the result code of their errno (wire-error.ts). */
function errorReply(id: number, err: unknown): unknown {
  return { v: PROTOCOL_VERSION, id, ok: false, error: toWireError(err).toJSON() };
}

interface Refusals {
  count: number;
  last: string;
  timer?: NodeJS.Timeout;
}

export class ControlServer {
  private readonly server: net.Server;
  /** accepted (allowed) connections; refused peers never enter */
  private readonly sockets = new Set<net.Socket>();
  private nonRoot = 0;
  private lingering = 0;
  private readonly maxConnections: number;
  private readonly rootReserved: number;
  private readonly refusals = new Map<string, Refusals>();

  constructor(private readonly opts: ServerOptions) {
    // No net.Server.maxConnections: it closes a connection before its peer is known (the client saw
    // `write EPIPE`), and counts refused peers. The cap is kept per peer kind in onConnection.
    this.server = net.createServer((sock) => this.onConnection(sock));
    this.maxConnections = opts.maxConnections ?? 128;
    this.rootReserved = Math.min(opts.rootReservedConnections ?? 8, this.maxConnections);
  }

  /** accepted connections now (tests, status) */
  get connections(): number {
    return this.sockets.size;
  }

  /** Listens on "\0" + socketName; rejects with EADDRINUSE when another daemon holds the name. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(socketAddress(this.opts.socketName), () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.log.error('control socket error', { error: err.message }));
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const r of this.refusals.values()) clearTimeout(r.timer);
    this.refusals.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private peerCred(sock: net.Socket): { cred?: PeerCred; who: string } {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return { who: 'unknown peer (no fd)' };
    try {
      const cred = (this.opts.kernel ?? liveKernel).getPeerCred(fd);
      return { cred, who: `pid ${cred.pid} uid ${cred.uid} gid ${cred.gid}` };
    } catch (err) {
      return { who: `unknown peer (${(err as Error).message})` };
    }
  }

  /**
   * Answers with one error frame, ends the connection and forgets it: it
   * never counts against the cap. The socket lingers (write side shut, not
   * reading) until the peer closes, at most REFUSED_LINGER_MS, so that a
   * peer whose request is still on its way reads the frame instead of
   * EPIPE; with MAX_LINGERING refused sockets already open it is destroyed
   * at once, so a flood of refused peers holds a bounded number of fds.
   */
  private refuse(sock: net.Socket, kind: string, who: string, err: VirtTierError): void {
    sock.on('error', () => undefined);
    sock.pause();
    if (this.lingering >= MAX_LINGERING) {
      sock.write(encodeFrame(errorReply(0, err)));
      sock.destroy();
    } else {
      this.lingering++;
      const timer = setTimeout(() => sock.destroy(), REFUSED_LINGER_MS);
      timer.unref();
      sock.once('close', () => {
        this.lingering--;
        clearTimeout(timer);
      });
      // the peer's FIN or reset ends it early; reading is paused, so watch the socket's end explicitly
      sock.once('end', () => sock.destroy());
      sock.end(encodeFrame(errorReply(0, err)));
      sock.resume();
      sock.on('data', () => undefined);
    }
    this.logRefusal(kind, who);
  }

  /** The first refusal of a kind is logged at once, then one line per interval with the count. */
  private logRefusal(kind: string, who: string): void {
    const r = this.refusals.get(kind);
    if (r) {
      r.count++;
      r.last = who;
      return;
    }
    this.opts.log.warn(`refused control connection: ${kind}`, { peer: who });
    const entry: Refusals = { count: 0, last: who };
    entry.timer = setTimeout(() => {
      this.refusals.delete(kind);
      if (entry.count > 0) this.opts.log.warn(`refused control connection: ${kind}`, { refused: entry.count, lastPeer: entry.last, withinMs: REFUSAL_LOG_INTERVAL_MS });
    }, REFUSAL_LOG_INTERVAL_MS);
    entry.timer.unref();
    this.refusals.set(kind, entry);
  }

  private onConnection(sock: net.Socket): void {
    const log = this.opts.log;
    const { cred, who } = this.peerCred(sock);
    const isRoot = cred?.uid === 0;
    if (!cred || !(isRoot || (this.opts.allowedGid !== undefined && cred.gid === this.opts.allowedGid))) {
      const allowed = this.opts.allowedGid === undefined ? 'root peers' : `root peers and peers of gid ${this.opts.allowedGid}`;
      this.refuse(sock, 'peer not allowed', who, new VirtTierError('OPT_PERM', `permission denied: virt-tierd accepts only ${allowed} (${who})`));
      return;
    }
    const limit = isRoot ? this.maxConnections : this.maxConnections - this.rootReserved;
    if ((isRoot ? this.sockets.size : this.nonRoot) >= limit) {
      const err = new VirtTierError('OPT_UNAVAILABLE', `virt-tierd is at its connection limit (${limit} connections${isRoot ? '' : ` for peers other than root; ${this.rootReserved} more are kept for root`}): try again later`, {
        field: 'connections',
        value: String(isRoot ? this.sockets.size : this.nonRoot),
        allowed: `0..${limit}`,
      });
      // Root's own refusals matter most: the qemu hook's events are lost with them, so the log says whose.
      this.refuse(sock, isRoot ? 'connection limit reached (root peer: its request, e.g. a qemu hook event, is lost)' : 'connection limit reached', who, err);
      return;
    }
    this.sockets.add(sock);
    if (!isRoot) this.nonRoot++;
    const peer = cred;
    sock.setTimeout(this.opts.idleTimeoutMs ?? 60_000, () => sock.destroy());
    const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
    const queue: Buffer[] = [];
    let inFlight = 0;
    /** set once an oversized frame was refused: the connection is ending and must not read again */
    let refusedFrame = false;
    // Serve queued frames while fewer than MAX_IN_FLIGHT run and the peer reads its replies; read more only then.
    const pump = (): void => {
      while (queue.length > 0 && inFlight < MAX_IN_FLIGHT && sock.writableLength < MAX_UNREAD_REPLY_BYTES && !sock.destroyed) {
        inFlight++;
        void this.serve(sock, queue.shift()!, peer).finally(() => {
          inFlight--;
          pump();
        });
      }
      const stalled = queue.length > 0 || sock.writableLength >= MAX_UNREAD_REPLY_BYTES;
      if (stalled) sock.pause();
      else if (sock.isPaused() && !refusedFrame) sock.resume();
    };
    // A peer that writes while we reply and then vanishes must not raise: EPIPE/ECONNRESET end only this connection.
    sock.on('error', (err) => log.debug('control connection error', { error: err.message }));
    sock.on('close', () => {
      this.sockets.delete(sock);
      if (!isRoot) this.nonRoot--;
      queue.length = 0;
    });
    sock.on('drain', pump);
    sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn('refused oversized control message', { peer: who });
        refusedFrame = true;
        sock.end(encodeFrame(errorReply(0, err)));
        sock.pause();
        return;
      }
      queue.push(...frames);
      pump();
    });
  }

  private async serve(sock: net.Socket, frame: Buffer, peer: PeerCred): Promise<void> {
    let id = 0;
    let reply: unknown;
    try {
      const req = parseRequest(frame);
      id = req.id;
      const handler = Object.hasOwn(this.opts.handlers, req.cmd) ? this.opts.handlers[req.cmd] : undefined;
      if (!handler) {
        throw new VirtTierError('OPT_PROTO', `unknown command ${JSON.stringify(req.cmd)}`, { field: 'cmd', value: req.cmd, allowed: Object.keys(this.opts.handlers).join('|') });
      }
      reply = { v: PROTOCOL_VERSION, id, ok: true, result: (await handler(req.args, peer)) ?? null };
    } catch (err) {
      if (!(err instanceof VirtTierError)) this.opts.log.error('request failed', { error: err instanceof Error ? err.stack : String(err) });
      reply = errorReply(id, err);
    }
    if (!sock.destroyed && sock.writable) sock.write(encodeFrame(reply));
  }
}
