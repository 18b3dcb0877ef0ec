/**
 * Errors at the control socket boundary (containerd's habit: map to wire
 * codes in the server, back in the client). A handler may fail with a
 * VirtTierError, which crosses as is, or with an OS failure (SysError from
 * the addon, an fs error), which becomes the result code its errno means,
 * with the errno name kept in the reply's `errno` field. So the CLI sees
 * `OPT_PERM` for EACCES whether the check failed in the daemon or locally.
 */
import { errnoCode, ResultCodes, VirtTierError, type ResultCode } from '../errors.js';

/** errno name -> result code; an errno not listed is OPT_INTER_ERR (docs/errors.md). */
export const RESULT_CODE_BY_ERRNO: Readonly<Record<string, ResultCode>> = {
  EACCES: 'OPT_PERM',
  EPERM: 'OPT_PERM',
  ENOENT: 'OPT_NOEXIST',
  ESRCH: 'OPT_NOEXIST',
  EINVAL: 'OPT_INVAL',
  ETIMEDOUT: 'OPT_TIMEOUT',
  ENOSYS: 'OPT_UNSUPPORTED',
  ENOTTY: 'OPT_UNSUPPORTED',
  EOPNOTSUPP: 'OPT_UNSUPPORTED',
  // the same number as EOPNOTSUPP on Linux; node:fs may report either name
  ENOTSUP: 'OPT_UNSUPPORTED',
};

/** The result code an errno name stands for at the socket boundary. */
export function resultCodeForErrno(errno: string): ResultCode {
  return Object.hasOwn(RESULT_CODE_BY_ERRNO, errno) ? RESULT_CODE_BY_ERRNO[errno]! : 'OPT_INTER_ERR';
}

/**
 * What the server sends for a failed request: a VirtTierError as is; an
 * error with an errno name as that errno's result code (message unchanged,
 * `errno` set); anything else as OPT_INTER_ERR with its message.
 */
export function toWireError(err: unknown): VirtTierError {
  if (err instanceof VirtTierError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const errno = errnoCode(err);
  if (errno !== undefined) return new VirtTierError(resultCodeForErrno(errno), message, { errno });
  return new VirtTierError('OPT_INTER_ERR', message);
}

/**
 * The client's side of toWireError: the reply's error object as a
 * VirtTierError. A code this client does not know (a newer daemon) is
 * taken from the errno when there is one, else OPT_INTER_ERR.
 */
export function fromWireError(obj: unknown): VirtTierError {
  const err = VirtTierError.fromJSON(obj);
  const code = (obj as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && Object.hasOwn(ResultCodes, code);
  if (known || err.errno === undefined) return err;
  return new VirtTierError(resultCodeForErrno(err.errno), err.message, { field: err.field, value: err.value, allowed: err.allowed, errno: err.errno });
}
