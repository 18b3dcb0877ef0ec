/**
 * OS failures from the addon become SysError (defined in src/errors.ts, the
 * one error vocabulary): `code` is the errno name (`ESRCH`), `errno` the
 * number and `syscall` what failed.
 */
import { SysError } from '../errors.js';

export { SysError };

interface RawNativeError {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  bytesAdvised?: unknown;
}

/** Converts an error thrown by the addon (or by node:fs) into SysError when it carries errno data. */
export function toSysError(err: unknown): unknown {
  if (err instanceof SysError) return err;
  if (typeof err !== 'object' || err === null) return err;
  const raw = err as RawNativeError;
  if (typeof raw.code === 'string' && typeof raw.errno === 'number' && typeof raw.syscall === 'string') {
    // node:fs reports errno as a negative number; the addon as positive.
    const sys = new SysError(raw.code, Math.abs(raw.errno), raw.syscall, String(raw.message ?? ''));
    if (typeof raw.bytesAdvised === 'number') sys.bytesAdvised = raw.bytesAdvised;
    return sys;
  }
  return err;
}

/** True when `err` is a SysError (or fs error) with one of the given errno names. */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  const e = toSysError(err);
  return e instanceof SysError && codes.includes(e.code);
}
