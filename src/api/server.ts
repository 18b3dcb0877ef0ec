/**
 * The control socket server. Transport only: it accepts connections on the
 * abstract socket, checks the peer's credentials with SO_PEERCRED, decodes
 * frames, hands each request to the handler table and encodes the reply.
 * Requests are served concurrently, so a slow `obj add` never blocks a
 * `project show` on another connection (or on the same one).
 */
import net from 'node:net';
import { VirtTierError } from '../errors.js';
import type { Logger } from '../log.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { encodeFrame, FrameDecoder, MAX_REQUEST_BYTES, parseRequest, PROTOCOL_VERSION, socketAddress } from './protocol.js';
import { toWireError } from './wire-error.js';

export type Handler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

export interface ServerOptions {
  socketName: string;
  handlers: Record<string, Handler>;
  log: Logger;
  /** besides uid 0, peers whose primary gid is this may connect */
  allowedGid?: number;
  /** connections idle this long are closed (ms) */
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** SO_PEERCRED lookups; default liveKernel */
  kernel?: Pick<KernelOps, 'getPeerCred'>;
}

/** A failed request's reply; OS errors get the result code of their errno (wire-error.ts). */
function errorReply(id: number, err: unknown): unknown {
  return { v: PROTOCOL_VERSION, id, ok: false, error: toWireError(err).toJSON() };
}

export class ControlServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: ServerOptions) {
    this.server = net.createServer((sock) => this.onConnection(sock));
    this.server.maxConnections = opts.maxConnections ?? 128;
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
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private peerAllowed(sock: net.Socket): { ok: boolean; who: string } {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return { ok: false, who: 'unknown peer (no fd)' };
    try {
      const cred = (this.opts.kernel ?? liveKernel).getPeerCred(fd);
      const who = `pid ${cred.pid} uid ${cred.uid} gid ${cred.gid}`;
      return { ok: cred.uid === 0 || (this.opts.allowedGid !== undefined && cred.gid === this.opts.allowedGid), who };
    } catch (err) {
      return { ok: false, who: `unknown peer (${(err as Error).message})` };
    }
  }

  private onConnection(sock: net.Socket): void {
    const log = this.opts.log;
    const peer = this.peerAllowed(sock);
    if (!peer.ok) {
      log.warn('refused control connection: peer is not root', { peer: peer.who });
      sock.end(encodeFrame(errorReply(0, new VirtTierError('OPT_PERM', `permission denied: virt-tierd accepts only root peers (${peer.who})`))));
      return;
    }
    this.sockets.add(sock);
    sock.setTimeout(this.opts.idleTimeoutMs ?? 60_000, () => sock.destroy());
    const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
    // A peer that writes while we reply and then vanishes must not raise: EPIPE/ECONNRESET end only this connection.
    sock.on('error', (err) => log.debug('control connection error', { error: err.message }));
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn('refused oversized control message', { peer: peer.who });
        sock.end(encodeFrame(errorReply(0, err)));
        sock.pause();
        return;
      }
      for (const frame of frames) void this.serve(sock, frame);
    });
  }

  private async serve(sock: net.Socket, frame: Buffer): Promise<void> {
    let id = 0;
    let reply: unknown;
    try {
      const req = parseRequest(frame);
      id = req.id;
      const handler = Object.hasOwn(this.opts.handlers, req.cmd) ? this.opts.handlers[req.cmd] : undefined;
      if (!handler) {
        throw new VirtTierError('OPT_PROTO', `unknown command ${JSON.stringify(req.cmd)}`, { field: 'cmd', value: req.cmd, allowed: Object.keys(this.opts.handlers).join('|') });
      }
      reply = { v: PROTOCOL_VERSION, id, ok: true, result: (await handler(req.args)) ?? null };
    } catch (err) {
      if (!(err instanceof VirtTierError)) this.opts.log.error('request failed', { error: err instanceof Error ? err.stack : String(err) });
      reply = errorReply(id, err);
    }
    if (!sock.destroyed && sock.writable) sock.write(encodeFrame(reply));
  }
}
