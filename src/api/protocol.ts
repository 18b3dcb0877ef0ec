/**
 * The control socket's wire format. etmemd reads one unframed message per
 * connection; virt-tier frames every message so clients can pipeline and a
 * half-sent request is detectable:
 *
 *   frame    = length:uint32be  payload:utf-8 JSON (length bytes)
 *   request  = { "v": 1, "id": <int>, "cmd": <string>, "args": <object> }
 *   response = { "v": 1, "id": <int>, "ok": true,  "result": <any> }
 *            | { "v": 1, "id": <int>, "ok": false, "error": { code, message, field?, value?, allowed?, errno? } }
 *
 * Error codes are the ResultCode vocabulary of src/errors.ts; `errno` names
 * the OS error an error code was mapped from (wire-error.ts).
 */
import { VirtTierError } from '../errors.js';

export const PROTOCOL_VERSION = 1;
/** A request larger than this is refused and the connection closed (1 MiB). */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Responses may be larger (stats of many tasks); 64 MiB bounds a broken peer. */
export const MAX_RESPONSE_BYTES = 64 << 20;
/** etmemd's limit: sockaddr_un.sun_path is 108 bytes, less the leading NUL and a terminator. */
export const SOCKET_NAME_MAX = 106;

export interface Request {
  v: number;
  id: number;
  cmd: string;
  args: Record<string, unknown>;
}

export type Response =
  | { v: number; id: number; ok: true; result: unknown }
  | { v: number; id: number; ok: false; error: Record<string, string> };

export function encodeFrame(message: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

/**
 * Incremental frame decoder: feed it chunks, it yields complete payloads.
 * Throws VirtTierError(OPT_PROTO) when a frame announces more than `maxBytes`.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxBytes) {
        throw new VirtTierError('OPT_PROTO', `message of ${length} bytes exceeds the limit of ${this.maxBytes} bytes`, {
          field: 'frame.length',
          value: String(length),
          allowed: `0..${this.maxBytes}`,
        });
      }
      if (this.buffered < 4 + length) break;
      const all = this.take(4 + length);
      frames.push(all.subarray(4));
    }
    return frames;
  }

  /** bytes of an incomplete frame still held */
  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}

/** Parses a request payload; throws VirtTierError(OPT_PROTO) naming what is wrong. */
export function parseRequest(payload: Buffer): Request {
  let obj: unknown;
  try {
    obj = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new VirtTierError('OPT_PROTO', 'request is not valid JSON', { field: 'request', allowed: 'a JSON object' });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new VirtTierError('OPT_PROTO', 'request must be a JSON object', { field: 'request', allowed: 'a JSON object' });
  }
  const o = obj as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) {
    throw new VirtTierError('OPT_PROTO', `unsupported protocol version ${JSON.stringify(o.v)}`, {
      field: 'v',
      value: String(o.v),
      allowed: String(PROTOCOL_VERSION),
    });
  }
  if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id) || o.id < 0) {
    throw new VirtTierError('OPT_PROTO', 'request id must be a non-negative integer', { field: 'id', value: String(o.id), allowed: `0..${Number.MAX_SAFE_INTEGER}` });
  }
  if (typeof o.cmd !== 'string' || o.cmd.length === 0 || o.cmd.length > 64) {
    throw new VirtTierError('OPT_PROTO', 'request cmd must be a string of 1..64 characters', { field: 'cmd', value: String(o.cmd), allowed: '1..64 characters' });
  }
  const args = o.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new VirtTierError('OPT_PROTO', 'request args must be a JSON object', { field: 'args', allowed: 'a JSON object' });
  }
  return { v: PROTOCOL_VERSION, id: o.id, cmd: o.cmd, args: args as Record<string, unknown> };
}

/**
 * The socket both programs use when none is named: virt-tierd listens on it
 * and virt-tier calls it, so a packaged daemon and a bare `virt-tier` meet.
 */
export const DEFAULT_SOCKET_NAME = 'virt-tier';

/** The socket name when -s is not given: $VIRT_TIER_SOCKET, else DEFAULT_SOCKET_NAME (the same rule for daemon and CLI). */
export function defaultSocketName(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIRT_TIER_SOCKET || DEFAULT_SOCKET_NAME;
}

/** The abstract-namespace address Node's net module uses for socket NAME (etmemd: "\0" + NAME). */
export function socketAddress(name: string): string {
  return '\0' + name;
}

/** Validates a socket name as etmemd does: 1..106 characters. */
export function checkSocketName(name: unknown, field = '-s'): string {
  if (typeof name !== 'string' || name.length < 1 || name.length > SOCKET_NAME_MAX) {
    const len = typeof name === 'string' ? name.length : 0;
    throw new VirtTierError('OPT_INVAL', `${field}: socket name must be 1..${SOCKET_NAME_MAX} characters, got ${len}`, {
      field,
      value: typeof name === 'string' ? name : String(name),
      allowed: `1..${SOCKET_NAME_MAX} characters`,
    });
  }
  return name;
}
