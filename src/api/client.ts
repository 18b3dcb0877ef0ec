/**
 * Client of the control socket, used by the CLI and the qemu hook. One
 * connection per call keeps the hook's failure modes simple; `timeoutMs`
 * bounds the whole exchange (connect, send, reply).
 */
import net from 'node:net';
import { VirtTierError } from '../errors.js';
import { encodeFrame, FrameDecoder, MAX_RESPONSE_BYTES, PROTOCOL_VERSION, socketAddress, type Response } from './protocol.js';
import { fromWireError } from './wire-error.js';

export interface CallOptions {
  timeoutMs?: number;
}

/** Sends one request to the daemon listening on abstract socket `name`; resolves to the result or rejects with VirtTierError. */
export function call(name: string, cmd: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketAddress(name) });
    const decoder = new FrameDecoder(MAX_RESPONSE_BYTES);
    let settled = false;
    const finish = (err: Error | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      finish(new VirtTierError('OPT_TIMEOUT', `no reply from virt-tierd on socket ${JSON.stringify(name)} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => {
      sock.write(encodeFrame({ v: PROTOCOL_VERSION, id: 1, cmd, args }));
    });
    sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        finish(err as Error);
        return;
      }
      for (const frame of frames) {
        let res: Response;
        try {
          res = JSON.parse(frame.toString('utf8')) as Response;
        } catch {
          finish(new VirtTierError('OPT_PROTO', 'daemon sent a reply that is not JSON'));
          return;
        }
        if (res.ok) finish(null, res.result);
        else finish(fromWireError(res.error));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET: the daemon answered and closed before our request went out (a refused peer, or its
      // connection limit); its own reply, when it arrives first, is the error the caller sees instead.
      const why =
        err.code === 'ECONNREFUSED' || err.code === 'ENOENT'
          ? 'is virt-tierd running?'
          : err.code === 'EPIPE' || err.code === 'ECONNRESET'
            ? 'the daemon closed the connection before reading the request: it refused this peer (not root, not of its --allow-gid) or is at its connection limit; its log says which'
            : err.message;
      finish(new VirtTierError('OPT_UNAVAILABLE', `cannot reach virt-tierd on socket ${JSON.stringify(name)} (${err.code ?? 'error'}): ${why}`));
    });
    sock.on('close', () => {
      finish(new VirtTierError('OPT_UNAVAILABLE', `virt-tierd closed the connection on socket ${JSON.stringify(name)} without a reply`));
    });
  });
}
