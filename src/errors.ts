/**
 * The one error vocabulary of virt-tier, shared by daemon, CLI, socket
 * protocol and feed (documented in docs/errors.md).
 *
 * Result codes keep etmem's names (OPT_*), so etmem users recognise them;
 * unlike etmem, every error also names the field, the value it got and the
 * allowed range where that applies.
 *
 * One place builds errors (the ws habit): VirtTierError and invalidField for
 * result codes, SysError and processGone for OS failures, abortError for
 * aborts. Nothing here imports from another virt-tier module, so every layer
 * may import it.
 */

export const ResultCodes = {
  OPT_INVAL: 'invalid argument',
  OPT_PRO_EXISTED: 'project already exists',
  OPT_PRO_STARTED: 'project already started',
  OPT_PRO_STOPPED: 'project already stopped',
  OPT_PRO_NOEXIST: 'project does not exist',
  OPT_ENG_EXISTED: 'engine already exists',
  OPT_ENG_NOEXIST: 'engine does not exist',
  OPT_TASK_EXISTED: 'task already exists',
  OPT_TASK_NOEXIST: 'task does not exist',
  OPT_INTER_ERR: 'internal error',
  /** virt-tier additions */
  OPT_PERM: 'permission denied',
  OPT_UNSUPPORTED: 'not supported on this host',
  OPT_PROTO: 'malformed request',
  OPT_TIMEOUT: 'timed out',
  OPT_UNAVAILABLE: 'daemon not reachable',
  OPT_NOEXIST: 'no such file or process',
} as const;

export type ResultCode = keyof typeof ResultCodes;

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `engine[1].node_pair` or `-l`. */
  field?: string;
  /** The value that was rejected, as text. */
  value?: string;
  /** The allowed range or form, e.g. `1..120` or `yes|no`. */
  allowed?: string;
  /** The errno name behind the error (`EACCES`) when an OS failure was mapped to a result code. */
  errno?: string;
}

/** An error with a stable result code; crosses the socket as {code, message, field, value, allowed, errno}. */
export class VirtTierError extends Error {
  readonly code: ResultCode;
  readonly field?: string;
  readonly value?: string;
  readonly allowed?: string;
  /** only set when present, so errors without one look as they always did */
  declare readonly errno?: string;

  constructor(code: ResultCode, message: string, detail: ErrorDetail = {}) {
    super(message);
    this.name = 'VirtTierError';
    this.code = code;
    this.field = detail.field;
    this.value = detail.value;
    this.allowed = detail.allowed;
    if (detail.errno !== undefined) this.errno = detail.errno;
  }

  toJSON(): Record<string, string> {
    const out: Record<string, string> = { code: this.code, message: this.message };
    if (this.field !== undefined) out.field = this.field;
    if (this.value !== undefined) out.value = this.value;
    if (this.allowed !== undefined) out.allowed = this.allowed;
    if (this.errno !== undefined) out.errno = this.errno;
    return out;
  }

  static fromJSON(obj: unknown): VirtTierError {
    const o = (typeof obj === 'object' && obj !== null ? obj : {}) as Record<string, unknown>;
    const code = typeof o.code === 'string' && o.code in ResultCodes ? (o.code as ResultCode) : 'OPT_INTER_ERR';
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return new VirtTierError(code, str(o.message) ?? ResultCodes[code], {
      field: str(o.field),
      value: str(o.value),
      allowed: str(o.allowed),
      errno: str(o.errno),
    });
  }
}

/** The common case: a field out of its allowed range. */
export function invalidField(field: string, value: unknown, allowed: string, why?: string): VirtTierError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const message = `${field}: ${why ?? 'invalid value'} ${shown}; allowed: ${allowed}`;
  return new VirtTierError('OPT_INVAL', message, { field, value: String(value), allowed });
}

/**
 * OS failures from the addon become SysError: `code` is the errno name
 * (`ESRCH`), `errno` the number and `syscall` what failed, so callers branch
 * on `err.code === 'ESRCH'` instead of parsing prose. Defined here, below
 * every layer that builds one; src/native/errors.ts re-exports it with the
 * addon-facing helpers (toSysError, isErrno).
 */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  /** processMadvise only: bytes advised before the failure. */
  bytesAdvised?: number;

  constructor(code: string, errno: number, syscall: string, message?: string) {
    super(message ?? `${syscall} failed: ${code}`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** An error named `AbortError` (the DOM/Node convention), optionally carrying what was done before the abort. */
export interface AbortError<P = unknown> extends Error {
  name: 'AbortError';
  partial?: P;
}

/**
 * The AbortError every virt-tier component rejects with when its signal
 * aborts (a stopped task, a closing daemon). `partial` is the result so far,
 * where the caller can use one (the mover's MoveResult).
 */
export function abortError<P = never>(message = 'operation aborted', partial?: P): AbortError<P> {
  const err = new Error(message) as AbortError<P>;
  err.name = 'AbortError';
  if (partial !== undefined) err.partial = partial;
  return err;
}

/** True for our AbortError and for Node's own (timers/promises, fetch, streams): both are named `AbortError`. */
export function isAbortError(err: unknown): err is AbortError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/** ESRCH (include/uapi/asm-generic/errno-base.h). */
const ESRCH = 3;

/**
 * The target process exited: a SysError ESRCH, the one shape trackers and
 * the mover promise for "gone" whether the kernel said ESRCH or /proc/PID
 * vanished (ENOENT). Message: `PATH: process PID is gone`, or
 * `process PID is gone` without a path.
 */
export function processGone(pid: number, detail: { syscall: string; path?: string }): SysError {
  const what = `process ${pid} is gone`;
  return new SysError('ESRCH', ESRCH, detail.syscall, detail.path === undefined ? what : `${detail.path}: ${what}`);
}

/**
 * True when `err` says the process is gone: any error whose code is ESRCH
 * (SysError, a raw addon/fs error), or a VirtTierError mapped from ESRCH at
 * the socket boundary, so the CLI tells "gone" the way the daemon does.
 */
export function isProcessGone(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; errno?: unknown };
  return e.code === 'ESRCH' || (err instanceof VirtTierError && e.errno === 'ESRCH');
}

/** The errno name of a raw fs/addon error (`ENOENT`), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
