/**
 * The one error vocabulary of virt-tier, shared by daemon, CLI, socket
 * protocol and feed (documented in docs/errors.md).
 *
 * Result codes keep etmem's names (OPT_*), so etmem users recognise them;
 * unlike etmem, every error also names the field, the value it got and the
 * allowed range where that applies.
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
} as const;

export type ResultCode = keyof typeof ResultCodes;

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `engine[1].node_pair` or `-l`. */
  field?: string;
  /** The value that was rejected, as text. */
  value?: string;
  /** The allowed range or form, e.g. `1..120` or `yes|no`. */
  allowed?: string;
}

/** An error with a stable result code; crosses the socket as {code, message, field, value, allowed}. */
export class VirtTierError extends Error {
  readonly code: ResultCode;
  readonly field?: string;
  readonly value?: string;
  readonly allowed?: string;

  constructor(code: ResultCode, message: string, detail: ErrorDetail = {}) {
    super(message);
    this.name = 'VirtTierError';
    this.code = code;
    this.field = detail.field;
    this.value = detail.value;
    this.allowed = detail.allowed;
  }

  toJSON(): Record<string, string> {
    const out: Record<string, string> = { code: this.code, message: this.message };
    if (this.field !== undefined) out.field = this.field;
    if (this.value !== undefined) out.value = this.value;
    if (this.allowed !== undefined) out.allowed = this.allowed;
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
    });
  }
}

/** The common case: a field out of its allowed range. */
export function invalidField(field: string, value: unknown, allowed: string, why?: string): VirtTierError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const message = `${field}: ${why ?? 'invalid value'} ${shown}; allowed: ${allowed}`;
  return new VirtTierError('OPT_INVAL', message, { field, value: String(value), allowed });
}
