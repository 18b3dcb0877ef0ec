/**
 * The feed's wire messages (JSON text frames, schema version 1; described
 * for users in docs/feed.md) and the parser of what clients send. A client
 * message that is not understood gets an `error` message naming the field;
 * it never throws past the connection handler.
 */
import { VirtTierError } from '../errors.js';
import type { TaskUpdate } from './snapshot.js';

export const FEED_SCHEMA_VERSION = 1;
/** Largest client message accepted (ws closes the connection with 1009 above it). */
export const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;
/** Most task keys or domains one subscribe may name. */
export const MAX_SUBSCRIBE_ENTRIES = 1024;
const MAX_ENTRY_LENGTH = 512;

export interface HelloMessage {
  v: 1;
  type: 'hello';
  server: 'virt-tierd';
  pid: number;
  updateIntervalMs: number;
  /** every task the daemon has now */
  tasks: string[];
}

export interface UpdateMessage {
  v: 1;
  type: 'update';
  timeMs: number;
  /** updates not sent to this client since its last message because it read too slowly */
  dropped: number;
  /** subscribed tasks whose entry changed since the last message to this client (all of them after a subscribe) */
  tasks: TaskUpdate[];
  /** subscribed tasks that no longer exist */
  removed: string[];
}

export interface SubscribedMessage {
  v: 1;
  type: 'subscribed';
  all: boolean;
  tasks: string[];
  domains: string[];
}

export interface ErrorMessage {
  v: 1;
  type: 'error';
  code: 'OPT_PROTO' | 'OPT_INVAL';
  message: string;
  field: string;
  allowed?: string;
}

export type ServerMessage = HelloMessage | UpdateMessage | SubscribedMessage | ErrorMessage;

/** What a client is subscribed to: everything, or tasks by key/name and domains by name/UUID. */
export interface Subscription {
  all: boolean;
  tasks: Set<string>;
  domains: Set<string>;
}

export type ClientRequest = { type: 'subscribe'; subscription: Subscription };

/**
 * A client message the feed does not understand. It is a VirtTierError (the
 * one vocabulary, docs/errors.md) and adds no state: only the feed's two
 * codes, a `field` that is always set, and its wire form.
 */
export class FeedProtocolError extends VirtTierError {
  declare readonly code: ErrorMessage['code'];
  declare readonly field: string;

  constructor(field: string, message: string, allowed?: string, code: ErrorMessage['code'] = 'OPT_INVAL') {
    super(code, message, { field, allowed });
  }

  /** The `error` message clients get: {v, type, code, message, field, allowed?} (docs/feed.md). */
  toMessage(): ErrorMessage {
    const m: ErrorMessage = { v: 1, type: 'error', code: this.code, message: this.message, field: this.field };
    if (this.allowed !== undefined) m.allowed = this.allowed;
    return m;
  }
}

function stringList(obj: Record<string, unknown>, field: string): string[] {
  const v = obj[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new FeedProtocolError(field, `${field} must be an array of strings`, 'an array of strings');
  if (v.length > MAX_SUBSCRIBE_ENTRIES) throw new FeedProtocolError(field, `${field} has ${v.length} entries`, `at most ${MAX_SUBSCRIBE_ENTRIES}`);
  return v.map((x, i) => {
    if (typeof x !== 'string' || x === '' || x.length > MAX_ENTRY_LENGTH) {
      throw new FeedProtocolError(`${field}[${i}]`, `${field}[${i}] must be a non-empty string`, `1..${MAX_ENTRY_LENGTH} characters`);
    }
    return x;
  });
}

/** Parses one client text frame. Throws FeedProtocolError naming the offending field. */
export function parseClientMessage(text: string): ClientRequest {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new FeedProtocolError('message', 'not JSON', 'a JSON object such as {"type":"subscribe","tasks":["project/engine/task"]}', 'OPT_PROTO');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    throw new FeedProtocolError('message', 'not a JSON object', 'a JSON object with a "type"', 'OPT_PROTO');
  }
  const obj = msg as Record<string, unknown>;
  if (obj.type !== 'subscribe') {
    throw new FeedProtocolError('type', obj.type === undefined ? 'type is missing' : `unknown type ${JSON.stringify(obj.type)}`, 'subscribe');
  }
  for (const k of Object.keys(obj)) {
    if (!['type', 'tasks', 'domains', 'all', 'v'].includes(k)) throw new FeedProtocolError(k, `unknown field "${k}"`, 'type, tasks, domains, all, v');
  }
  if (obj.v !== undefined && obj.v !== FEED_SCHEMA_VERSION) throw new FeedProtocolError('v', `schema version ${JSON.stringify(obj.v)} is not spoken here`, String(FEED_SCHEMA_VERSION));
  if (obj.all !== undefined && typeof obj.all !== 'boolean') throw new FeedProtocolError('all', 'all must be true or false', 'true|false');
  const tasks = stringList(obj, 'tasks');
  const domains = stringList(obj, 'domains');
  const all = obj.all === true || (obj.all === undefined && obj.tasks === undefined && obj.domains === undefined);
  return { type: 'subscribe', subscription: { all, tasks: new Set(tasks), domains: new Set(domains) } };
}

/** Whether `t` is in the subscription: by key (`project/engine/name`), by bare task name, or by domain. */
export function subscribed(sub: Subscription, t: { key: string; name: string; domain?: string }): boolean {
  if (sub.all) return true;
  if (sub.tasks.has(t.key) || sub.tasks.has(t.name)) return true;
  return t.domain !== undefined && sub.domains.has(t.domain);
}

export function allSubscription(): Subscription {
  return { all: true, tasks: new Set(), domains: new Set() };
}
