/**
 * What the daemon does with a qemu hook event (hooks/qemu sends
 * `hook.event` with {domain, uuid, op, subop, extra}). libvirt's qemu
 * hook ops and when they run: https://libvirt.org/hooks.html#etc-libvirt-hooks-qemu
 *
 *   started begin    QEMU is up (PID known)            -> add the domain's tasks
 *   reconnect begin  libvirtd restarted, guest running -> refresh (re-resolve PID)
 *   restore begin    restored from a save image        -> refresh
 *   migrate begin    incoming migration about to start -> refresh (policy may arrive with it)
 *   stopped end      QEMU is gone                      -> remove the domain's tasks
 *   release end      resources released                -> remove (idempotent)
 *
 * Other ops (prepare, start, attach, ...) are accepted and ignored, so an
 * older daemon never rejects a newer hook. Anything malformed is refused
 * with OPT_INVAL naming the field.
 */
import { VirtTierError, invalidField } from '../errors.js';
import { DOMAIN_NAME_MAX_BYTES } from '../config/fields.js';

export const HOOK_OPS = ['prepare', 'start', 'started', 'stopped', 'release', 'migrate', 'restore', 'reconnect', 'attach'] as const;
export type HookOp = (typeof HOOK_OPS)[number];
export const HOOK_SUBOPS = ['begin', 'end', '-'] as const;

export interface HookEvent {
  domain: string;
  uuid?: string;
  op: HookOp;
  subop: string;
  extra: string;
}

export type HookAction = 'add' | 'remove' | 'refresh' | 'ignore';

export interface HookDecision {
  action: HookAction;
  domain: string;
  uuid?: string;
  op: HookOp;
  subop: string;
}

/** What the daemon offers the decision (kept small: the decision itself is pure). */
export interface HookDaemonContext {
  /** tiers only domains whose policy is enabled when true (the "auto" setting); otherwise only domains named by tasks */
  auto?: boolean;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function str(args: Record<string, unknown>, key: string, maxBytes: number, required: boolean): string | undefined {
  const v = args[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') throw invalidField(`hook.event.${key}`, v === undefined ? '(missing)' : typeof v, 'a string', 'not a string');
  if (Buffer.byteLength(v) > maxBytes) throw invalidField(`hook.event.${key}`, v.slice(0, 40) + '...', `at most ${maxBytes} bytes`, 'too long');
  return v;
}

/** Validates the args of a `hook.event` request. */
export function parseHookEvent(args: Record<string, unknown>): HookEvent {
  if (typeof args !== 'object' || args === null) throw new VirtTierError('OPT_PROTO', 'hook.event: args must be an object', { field: 'hook.event' });
  const domain = str(args, 'domain', DOMAIN_NAME_MAX_BYTES, true)!;
  if (domain === '' || domain.includes('/') || CONTROL.test(domain)) {
    throw invalidField('hook.event.domain', domain, `a libvirt domain name (1..${DOMAIN_NAME_MAX_BYTES} bytes, no '/', no control characters)`);
  }
  const op = str(args, 'op', 32, true)!;
  if (!(HOOK_OPS as readonly string[]).includes(op)) throw invalidField('hook.event.op', op, HOOK_OPS.join('|'), 'unknown hook operation');
  const subop = str(args, 'subop', 32, false) ?? '-';
  if (!(HOOK_SUBOPS as readonly string[]).includes(subop)) throw invalidField('hook.event.subop', subop, HOOK_SUBOPS.join('|'), 'unknown sub-operation');
  const extra = str(args, 'extra', 256, false) ?? '-';
  if (CONTROL.test(extra)) throw invalidField('hook.event.extra', extra, 'text without control characters');
  const uuid = str(args, 'uuid', 36, false);
  if (uuid !== undefined && uuid !== '' && !UUID_RE.test(uuid)) throw invalidField('hook.event.uuid', uuid, 'a UUID (8-4-4-4-12 hex digits)');
  const event: HookEvent = { domain, op: op as HookOp, subop, extra };
  if (uuid) event.uuid = uuid.toLowerCase();
  return event;
}

/** The action for a validated event. */
export function decideHookAction(event: HookEvent): HookAction {
  switch (event.op) {
    case 'started':
      return 'add';
    case 'reconnect':
    case 'restore':
    case 'migrate':
      return event.subop === 'begin' ? 'refresh' : 'ignore';
    case 'stopped':
    case 'release':
      return 'remove';
    default:
      return 'ignore';
  }
}

/**
 * The daemon's `hook.event` handler body: validates the request args and
 * says what to do with the domain's tasks. The daemon then adds
 * (domainTasksFromPolicy after resolving the domain), removes (the tasks
 * whose value is this domain's name or UUID) or refreshes (re-resolves the
 * QEMU PID; re-reads the policy) them.
 */
export function handleHookEvent(args: Record<string, unknown>, ctx: HookDaemonContext = {}): HookDecision {
  const event = parseHookEvent(args);
  let action = decideHookAction(event);
  // Without auto, a started domain only matters if a task already names it: refreshing re-resolves those.
  if (action === 'add' && ctx.auto === false) action = 'refresh';
  const decision: HookDecision = { action, domain: event.domain, op: event.op, subop: event.subop };
  if (event.uuid) decision.uuid = event.uuid;
  return decision;
}
