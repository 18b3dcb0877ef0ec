/**
 * Who may use the feed server, decided per request (listen-check.ts decides
 * where it may listen):
 * - with a token, `/feed` and `/metrics` need it (`Authorization: Bearer` or
 *   `?token=`): 401 otherwise;
 * - a browser Origin must match the Host, so no cross-site page reads the
 *   feed: 403;
 * - at most `maxClients` websocket clients: 503.
 * Further admission checks (a Host header allow-list, per-address connection
 * limits) belong here, next to these.
 */
import type { IncomingMessage } from 'node:http';
import { requestToken, tokenMatches } from './listen-check.js';

/** The request's URL (path and query); the host part is a placeholder, never the Host header. */
export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://feed.invalid');
}

/** True without a configured token, else when the request carries it. */
export function tokenAccepted(token: string | undefined, req: IncomingMessage, url: URL): boolean {
  return token === undefined || tokenMatches(token, requestToken(req.headers, url));
}

/** No Origin (not a browser), or an Origin whose host:port is the Host the request was sent to. */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export interface UpgradeRefusal {
  status: number;
  reason: string;
  /** logged as a warning when set */
  warning?: string;
}

/** Why a websocket upgrade to `/feed` is refused, checked in this order: token, Origin, capacity; undefined to accept. */
export function upgradeRefusal(req: IncomingMessage, url: URL, opts: { token?: string; clients: number; maxClients: number }): UpgradeRefusal | undefined {
  if (!tokenAccepted(opts.token, req, url)) return { status: 401, reason: 'Unauthorized', warning: 'feed: upgrade without a valid token' };
  if (!originAllowed(req)) return { status: 403, reason: 'Forbidden' };
  if (opts.clients >= opts.maxClients) return { status: 503, reason: 'Service Unavailable' };
  return undefined;
}
